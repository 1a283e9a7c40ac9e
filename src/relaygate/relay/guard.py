"""Slows down key guessing: too many failed authentications from one address get 429 for a while.

Counted in fixed one-minute windows per address, in memory (a guessing client hits the same
process through keep-alive; across processes each counts on its own, which only makes the limit
per process). The table is bounded so a spray of addresses cannot grow it without limit.
"""

from __future__ import annotations

import time

WINDOW_S = 60.0
MAX_TRACKED = 100_000


class AuthGuard:
    def __init__(self, limit_per_minute: int) -> None:
        self.limit = limit_per_minute
        self._failures: dict[str, tuple[float, int]] = {}

    def blocked_for(self, ip: str) -> float:
        """Seconds this address must wait, or 0. A dict miss on the common path."""
        if self.limit <= 0 or not self._failures:
            return 0.0
        entry = self._failures.get(ip)
        if entry is None:
            return 0.0
        start, count = entry
        remaining = start + WINDOW_S - time.monotonic()
        if remaining <= 0:
            del self._failures[ip]
            return 0.0
        return remaining if count >= self.limit else 0.0

    def failed(self, ip: str) -> None:
        if self.limit <= 0:
            return
        now = time.monotonic()
        start, count = self._failures.get(ip, (now, 0))
        if now - start >= WINDOW_S:
            start, count = now, 0
        self._failures[ip] = (start, count + 1)
        if len(self._failures) > MAX_TRACKED:
            self._prune(now)

    def _prune(self, now: float) -> None:
        self._failures = {ip: e for ip, e in self._failures.items() if now - e[0] < WINDOW_S}
        if len(self._failures) > MAX_TRACKED:  # still full: forget the oldest half
            keep = sorted(self._failures.items(), key=lambda kv: kv[1][0])[MAX_TRACKED // 2:]
            self._failures = dict(keep)
