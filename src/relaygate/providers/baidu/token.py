"""Access tokens shared by concurrent requests: one fetch per (channel, key), however many wait.

Qianfan v1 exchanges API key + secret key for an access token valid 30 days. A token is cached
in this adapter instance, in memory, per ``(channel id, key)``, and considered stale a margin
before it expires (a tenth of its lifetime, at most an hour). Concurrent requests that find no
fresh token share one in-flight fetch (an asyncio task, shielded so that a caller who leaves
does not cancel it for the others). When the upstream says a token expired or is invalid, the
request asks :meth:`TokenCache.refresh` with the token it used: the first such request starts
one new fetch, the others await it or find its result, so fifty failing requests cost one fetch.

Each worker process has its own cache (and fetches its own token); Baidu issues several valid
tokens per key, so nothing needs sharing across processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

MAX_MARGIN_S = 3600.0

Fetch = Callable[[], Awaitable[tuple[str, float]]]  # -> (token, lifetime in seconds)


@dataclass(slots=True)
class _Entry:
    token: str
    fresh_until: float  # monotonic


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[Hashable, _Entry] = {}
        self._inflight: dict[Hashable, asyncio.Future[str]] = {}
        self.fetches = 0  # completed fetches, for tests and metrics

    async def get(self, key: Hashable, fetch: Fetch) -> str:
        entry = self._tokens.get(key)
        if entry is not None and entry.fresh_until > self._clock():
            return entry.token
        return await self._shared_fetch(key, fetch)

    async def refresh(self, key: Hashable, stale: str, fetch: Fetch) -> str:
        """A fresh token after the upstream refused ``stale``: fetched once for all who ask."""
        entry = self._tokens.get(key)
        if entry is not None and entry.token != stale and entry.fresh_until > self._clock():
            return entry.token  # someone already replaced it
        if entry is not None and entry.token == stale:
            del self._tokens[key]
        return await self._shared_fetch(key, fetch)

    def forget(self, key: Hashable) -> None:
        self._tokens.pop(key, None)

    async def _shared_fetch(self, key: Hashable, fetch: Fetch) -> str:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._run(key, fetch))
            task.add_done_callback(_consume)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _run(self, key: Hashable, fetch: Fetch) -> str:
        try:
            token, lifetime = await fetch()
            self.fetches += 1
            margin = min(MAX_MARGIN_S, max(0.0, lifetime) / 10)
            self._tokens[key] = _Entry(token, self._clock() + max(0.0, lifetime - margin))
            return token
        finally:
            self._inflight.pop(key, None)


def _consume(task: asyncio.Future[str]) -> None:
    """Retrieve a failed fetch's exception even if every waiter left, so it is not logged as lost."""
    if not task.cancelled():
        task.exception()
