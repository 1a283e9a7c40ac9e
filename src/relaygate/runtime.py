"""Everything one gateway process holds: database, state snapshot, ledger, recorder, upstream pool.

Created once per worker process in the ASGI lifespan; routes reach it through the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from relaygate.billing.ledger import Ledger, LocalLedger
from relaygate.billing.recorder import UsageRecorder
from relaygate.config import Settings
from relaygate.state.loader import load_snapshot
from relaygate.state.snapshot import Snapshot, hash_key
from relaygate.state.version import StateVersion
from relaygate.store.db import make_engine, session_factory
from relaygate.store.models import ApiKey, User

log = logging.getLogger("relaygate")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: AsyncEngine = make_engine(settings.effective_database_url)
        self.sessions: async_sessionmaker = session_factory(self.engine)
        self.snapshot = Snapshot()
        self.redis: Any = None
        self.ledger: Ledger = LocalLedger()
        self.recorder = UsageRecorder(self.sessions, settings.usage_flush_interval_s,
                                      settings.usage_flush_batch)
        self.version = StateVersion(self)
        self.admin_key_hash = hash_key(settings.admin_key) if settings.admin_key else ""
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        # set by relay.setup so that this module does not import the hot path
        self.relay: Any = None

    async def start(self) -> None:
        if self.settings.redis_url:
            import redis.asyncio as aioredis

            from relaygate.billing.redis_ledger import RedisLedger

            # a blocking pool: a burst waits for a free connection instead of failing the request
            pool = aioredis.BlockingConnectionPool.from_url(
                self.settings.redis_url, max_connections=self.settings.redis_max_connections, timeout=5)
            self.redis = aioredis.Redis(connection_pool=pool)
            self.ledger = RedisLedger(self.redis, self.settings.redis_prefix, seed=self._ledger_account)
        await self.reload_state()
        await self._load_ledger()
        self.recorder.start()
        await self.version.start()

    async def _load_ledger(self) -> None:
        async with self.sessions() as s:
            users = {u.id: (u.balance, u.used) for u in (await s.scalars(select(User))).all()}
            keys = {k.id: k.used for k in (await s.scalars(select(ApiKey))).all()}
        await self.ledger.load(users, keys)

    async def _ledger_account(self, user_id: int, key_id: int) -> tuple[tuple[int, int] | None, int]:
        """One account's durable values, for a ledger that lost it (a Redis restart)."""
        async with self.sessions() as s:
            user = await s.get(User, user_id)
            key = await s.get(ApiKey, key_id)
        return ((user.balance, user.used) if user else None), (key.used if key else 0)

    async def reload_state(self) -> None:
        """Swap in a fresh snapshot; requests in flight keep the one they started with."""
        async with self._reload_lock:
            version = await self.version.read()
            self.snapshot = await load_snapshot(self.sessions, version)
        if self.relay is not None:
            self.relay.on_snapshot(self.snapshot)

    async def state_changed(self) -> None:
        """Call after any committed change to keys, users, channels or prices."""
        await self.version.bump()
        await self.reload_state()

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def stop(self) -> None:
        await self.version.stop()
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.relay is not None:
            await self.relay.close()
        await self.recorder.close()
        await self.ledger.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
