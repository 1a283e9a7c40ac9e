"""Everything one gateway process holds: database, state snapshot, ledger, recorder, upstream pool.

Created once per worker process in the ASGI lifespan; routes reach it through the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from relaygate.billing.journal import UsageJournal
from relaygate.billing.ledger import Ledger, LocalLedger
from relaygate.billing.recorder import UsageRecorder
from relaygate.billing.replay import replay_journals
from relaygate.bootstrap import load_keyring
from relaygate.config import Settings
from relaygate.relay.ratelimit import LocalRateLimiter, RateLimiter
from relaygate.state.loader import load_snapshot
from relaygate.state.snapshot import Snapshot, hash_key
from relaygate.state.version import StateVersion
from relaygate.store.db import make_engine, session_factory
from relaygate.store.models import ApiKey, User

log = logging.getLogger("relaygate")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # channel rows are sealed at rest; the keyring opens them when the snapshot is loaded
        load_keyring(settings)
        self.engine: AsyncEngine = make_engine(settings.effective_database_url)
        self.sessions: async_sessionmaker = session_factory(self.engine)
        self.snapshot = Snapshot()
        self.redis: Any = None
        self.ledger: Ledger = LocalLedger()
        self.limiter: RateLimiter = LocalRateLimiter(settings.rate_limit_window_s)
        self.journal = (UsageJournal(self.journal_dir, settings.usage_journal_fsync)
                        if settings.usage_journal else None)
        self.recorder = UsageRecorder(self.sessions, settings.usage_flush_interval_s,
                                      settings.usage_flush_batch, self.journal)
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
            from relaygate.relay.ratelimit_redis import RedisRateLimiter

            # a blocking pool: a burst waits for a free connection instead of failing the request
            pool = aioredis.BlockingConnectionPool.from_url(
                self.settings.redis_url, max_connections=self.settings.redis_max_connections, timeout=5)
            self.redis = aioredis.Redis(connection_pool=pool)
            self.ledger = RedisLedger(self.redis, self.settings.redis_prefix, seed=self._ledger_account,
                                      heartbeat_s=self.settings.ledger_heartbeat_s,
                                      lease_requests=self.settings.ledger_lease_requests,
                                      lease_idle_s=self.settings.ledger_lease_idle_s)
            self.limiter = RedisRateLimiter(self.redis, self.settings.redis_prefix,
                                            self.settings.rate_limit_window_s)
        # Records of a process that was killed before its last batch committed: written before
        # the ledger loads balances (so they include them) and before serving. Done even with
        # the journal now off, for segments left from a run that had it on.
        if self.journal is not None:
            self.journal.open()
        await replay_journals(self.journal_dir, self.sessions, self.journal.owner if self.journal else None)
        await self.reload_state()
        await self._load_ledger()
        self.recorder.start()
        await self.version.start()

    @property
    def journal_dir(self) -> Path:
        return self.settings.data_dir / "journal"

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
