"""State of the fake Zhipu API: the shared simulator state plus keys and what authenticated."""

from __future__ import annotations

from dataclasses import dataclass, field

from relaygate.simulators.anthropic.runner import SimState


@dataclass
class ZhipuState(SimState):
    keys: dict[str, str] = field(default_factory=dict)
    """Key id -> secret (the two halves of ``<id>.<secret>``)."""
    jwts_seen: set[str] = field(default_factory=set)
    """Distinct valid JWTs since the last reset: a client that caches its token shows one."""
    plain_key_requests: int = 0

    def reset(self) -> None:
        super().reset()
        self.jwts_seen.clear()
        self.plain_key_requests = 0
