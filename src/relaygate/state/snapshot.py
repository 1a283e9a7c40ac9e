"""The in-memory view of keys, users, channels and prices that the hot path reads.

A snapshot is immutable once built: a change builds a new one and swaps the reference, so a
request that started with the old view finishes with it and never sees half an update.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
from dataclasses import dataclass, field
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def hash_key(secret: str) -> str:
    """Keys are random 48-char tokens, so a fast unsalted hash is as good as a slow one."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(slots=True, frozen=True)
class UserInfo:
    id: int
    name: str
    group: str
    enabled: bool
    rpm_limit: int | None = None  # per rate-limit window, over all the user's keys; None: unlimited
    tpm_limit: int | None = None


@dataclass(slots=True, frozen=True)
class RateLimits:
    """The limits that apply to one key: its own and its user's (None: that one is unlimited).

    Built once per snapshot, and only for keys that have a limit somewhere, so the hot path's whole
    cost for an unlimited key is one ``key.limits is None`` check.
    """

    key_id: int
    user_id: int
    key_rpm: int | None
    user_rpm: int | None
    key_tpm: int | None
    user_tpm: int | None

    @property
    def counts_tokens(self) -> bool:
        return self.key_tpm is not None or self.user_tpm is not None


def rate_limits(key_id: int, key_rpm: int | None, key_tpm: int | None,
                user: UserInfo | None) -> RateLimits | None:
    user_rpm = user.rpm_limit if user is not None else None
    user_tpm = user.tpm_limit if user is not None else None
    if key_rpm is None and key_tpm is None and user_rpm is None and user_tpm is None:
        return None
    return RateLimits(key_id, user.id if user is not None else 0, key_rpm, user_rpm, key_tpm, user_tpm)


@dataclass(slots=True, frozen=True)
class KeyInfo:
    id: int
    user_id: int
    name: str
    models: frozenset[str] | None
    budget: int | None  # micro-units, None = only the user's balance limits it
    expires_at: float | None  # unix seconds
    allowed_nets: tuple[IPNetwork, ...] | None
    enabled: bool
    rpm_limit: int | None = None  # per rate-limit window; None: unlimited
    tpm_limit: int | None = None
    limits: RateLimits | None = None  # this key's and its user's limits together; None: no limit at all


@dataclass(slots=True, frozen=True)
class PriceInfo:
    model: str
    input: int  # micro-units per 1M tokens
    output: int
    cache_read: int | None
    cache_write: int | None
    per_request: int
    max_output_tokens: int | None
    per_character: int | None = None  # micro-units per 1M characters (translation), see billing/pricing.py
    per_image: int | None = None  # micro-units per image (images endpoints)
    image_prices: dict[str, int] | None = None  # per image by "<size>/<quality>" or "<size>"; per_image otherwise
    per_second: int | None = None  # micro-units per second of audio in (transcriptions, translations)


@dataclass(slots=True)
class ChannelInfo:
    id: int
    name: str
    type: str
    base_url: str
    keys: tuple[str, ...]
    models: frozenset[str]
    model_mapping: dict[str, str]
    groups: frozenset[str]
    priority: int
    weight: int
    status: str
    config: dict[str, Any]
    timeout_s: float | None
    _key_cycle: itertools.cycle = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._key_cycle = itertools.cycle(self.keys or ("",))

    @property
    def public_models(self) -> frozenset[str]:
        return self.models | frozenset(self.model_mapping)

    def next_key(self) -> str:
        """Round-robin over the channel's keys to spread an upstream's per-key limits."""
        return next(self._key_cycle)

    def upstream_model(self, model: str) -> str:
        return self.model_mapping.get(model, model)


@dataclass(slots=True)
class Snapshot:
    users: dict[int, UserInfo] = field(default_factory=dict)
    keys_by_hash: dict[str, KeyInfo] = field(default_factory=dict)
    keys_by_id: dict[int, KeyInfo] = field(default_factory=dict)
    channels: dict[int, ChannelInfo] = field(default_factory=dict)
    prices: dict[str, PriceInfo] = field(default_factory=dict)
    # (group, model) -> channels serving it, enabled or not, sorted by priority (desc)
    routes: dict[tuple[str, str], tuple[ChannelInfo, ...]] = field(default_factory=dict)
    version: int = 0
    # fine-tuned model -> its owner's user id; routed (for the owner's group) to the channel that trained it
    fine_tuned: dict[str, int] = field(default_factory=dict)

    def index_routes(self) -> None:
        routes: dict[tuple[str, str], list[ChannelInfo]] = {}
        for ch in self.channels.values():
            for group in ch.groups:
                for model in ch.public_models:
                    routes.setdefault((group, model), []).append(ch)
        self.routes = {k: tuple(sorted(v, key=lambda c: -c.priority)) for k, v in routes.items()}

    def add_fine_tuned(self, model: str, user_id: int, channel_id: int, base: PriceInfo | None) -> None:
        """Route a fine-tuned model to its channel for its owner's group, priced like its base model
        unless the operator priced it (after :meth:`index_routes`)."""
        user, channel = self.users.get(user_id), self.channels.get(channel_id)
        if user is None or channel is None:
            return
        self.fine_tuned[model] = user_id
        self.routes.setdefault((user.group, model), (channel,))
        if model not in self.prices and base is not None:
            self.prices[model] = base

    def models_for_group(self, group: str) -> set[str]:
        return {model for (g, model), chans in self.routes.items() if g == group
                and any(c.status == "enabled" for c in chans)}


def parse_networks(values: list[str] | None) -> tuple[IPNetwork, ...] | None:
    if not values:
        return None
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def split_groups(value: str) -> frozenset[str]:
    return frozenset(g.strip() for g in value.split(",") if g.strip()) or frozenset({"default"})
