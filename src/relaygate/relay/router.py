"""Channel choice: the highest priority tier first, weighted random inside a tier."""

from __future__ import annotations

import random
from collections.abc import Iterator

from relaygate.state.snapshot import ChannelInfo


def candidates(channels: tuple[ChannelInfo, ...], down: set[int] | frozenset[int],
               rng: random.Random = random._inst) -> Iterator[ChannelInfo]:  # type: ignore[attr-defined]
    """Yield usable channels in the order to try them; later tiers only after earlier ones."""
    if len(channels) == 1:  # the common case: nothing to order
        only = channels[0]
        if only.status == "enabled" and only.id not in down:
            yield only
        return
    usable = [c for c in channels if c.status == "enabled" and c.id not in down]
    while usable:
        top = usable[0].priority
        tier = [c for c in usable if c.priority == top]
        while tier:
            pick = _weighted(tier, rng)
            yield pick
            tier.remove(pick)
            usable.remove(pick)


def _weighted(tier: list[ChannelInfo], rng: random.Random) -> ChannelInfo:
    if len(tier) == 1:
        return tier[0]
    total = sum(c.weight for c in tier)
    if total <= 0:
        return rng.choice(tier)
    point = rng.random() * total
    for c in tier:
        point -= c.weight
        if point < 0:
            return c
    return tier[-1]
