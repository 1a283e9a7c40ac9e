"""Usage records, queued on the hot path and written in batches with the balance changes.

A batch is one transaction: the records and the matching balance/used deltas land together
or not at all, so the database never shows a charge without its record or the reverse.
A failed write keeps the batch and retries; a clean stop flushes everything. With a journal
(billing/journal.py) every record is also on disk from the moment it is queued, so a process
that is killed before the batch commits loses nothing: the next start replays it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relaygate.billing.journal import UsageJournal
from relaygate.store.models import ApiKey, UsageLog, User

log = logging.getLogger("relaygate.usage")


@dataclass(slots=True)
class UsageRecord:
    request_id: str
    user_id: int | None
    key_id: int | None
    channel_id: int | None
    endpoint: str
    model: str
    upstream_model: str = ""
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: int = 0
    status_code: int = 200
    outcome: str = "ok"
    usage_source: str = "upstream"
    latency_ms: int = 0
    ttft_ms: int | None = None
    tries: int = 1
    error: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


FIELDS = tuple(f.name for f in fields(UsageRecord))


async def write_rows(session: AsyncSession, rows: list[dict]) -> None:
    """Insert usage rows and apply their costs to users' balances and keys' spend (in the
    caller's transaction): shared by the recorder and the journal replay."""
    user_delta: dict[int, int] = defaultdict(int)
    key_delta: dict[int, int] = defaultdict(int)
    for row in rows:
        cost = row["cost"]
        if cost:
            if row["user_id"] is not None:
                user_delta[row["user_id"]] += cost
            if row["key_id"] is not None:
                key_delta[row["key_id"]] += cost
    # Core executemany on the table: a third of the ORM bulk path's CPU per record
    await session.execute(insert(UsageLog.__table__), rows)
    for uid, cost in user_delta.items():
        await session.execute(update(User).where(User.id == uid)
                              .values(balance=User.balance - cost, used=User.used + cost))
    for kid, cost in key_delta.items():
        await session.execute(update(ApiKey).where(ApiKey.id == kid).values(used=ApiKey.used + cost))


class UsageRecorder:
    def __init__(self, sessions: async_sessionmaker, interval_s: float = 0.5, batch: int = 500,
                 journal: UsageJournal | None = None) -> None:
        self.sessions = sessions
        self.interval_s = interval_s
        self.batch = batch
        self.journal = journal
        self._pending: list[UsageRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._stopping = False
        self.written = 0

    def add(self, record: UsageRecord) -> None:
        """Called on the hot path: a list append, and with a journal one small write(2)."""
        self._pending.append(record)
        if self.journal is not None:
            self.journal.append(record)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s model=%s channel=%s status=%s tokens=%d+%d cost=%d", record.request_id,
                      record.endpoint, record.outcome, record.model, record.channel_id, record.status_code,
                      record.prompt_tokens, record.completion_tokens, record.cost)
        if len(self._pending) >= self.batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # keep the loop alive; the batch is retried on the next tick
                log.exception("usage flush failed; will retry")
                await asyncio.sleep(min(5.0, self.interval_s * 4))

    async def flush(self) -> int:
        async with self._flush_lock:
            if not self._pending:
                return 0
            # no await between taking the batch and sealing: the sealed segments hold exactly it
            batch, self._pending = self._pending, []
            segments = self.journal.seal() if self.journal is not None else []
            try:
                await self._write(batch)
            except BaseException:
                self._pending[:0] = batch  # put it back in front, in order
                raise
            if self.journal is not None:
                self.journal.committed(segments)
            self.written += len(batch)
            return len(batch)

    async def _write(self, batch: list[UsageRecord]) -> None:
        rows = [{name: getattr(r, name) for name in FIELDS} for r in batch]
        async with self.sessions() as s, s.begin():
            await write_rows(s, rows)

    async def close(self) -> None:
        """Stop the loop and write everything still queued; retried a few times on failure."""
        if self._task is not None:
            # Not cancelled: a cancel could land between a commit and its bookkeeping.
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        try:
            for attempt in range(5):
                try:
                    while self._pending:
                        await self.flush()
                    return
                except Exception:
                    log.exception("final usage flush failed (attempt %d)", attempt + 1)
                    await asyncio.sleep(0.5 * (attempt + 1))
            log.error("%d usage records could not be written at shutdown%s", len(self._pending),
                      "; they stay in the journal for the next start" if self.journal is not None else "")
        finally:
            if self.journal is not None:
                self.journal.close(clean=not self._pending)
