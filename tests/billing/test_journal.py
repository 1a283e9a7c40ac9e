"""The usage journal: records of a killed process are replayed once, never twice, never a live one's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from relaygate.billing import replay as replay_mod
from relaygate.billing.journal import UsageJournal
from relaygate.billing.recorder import UsageRecord, UsageRecorder
from relaygate.billing.replay import replay_journals
from relaygate.store.db import make_engine, migrate, session_factory
from relaygate.store.models import ApiKey, UsageLog, User

BALANCE = 1_000_000


@dataclass
class Db:
    sessions: async_sessionmaker
    user_id: int
    key_id: int

    async def account(self) -> tuple[int, int, int, int, int]:
        """(records, sum of costs, user balance, user used, key used) straight from the tables."""
        async with self.sessions() as s:
            n, cost = (await s.execute(select(func.count(), func.coalesce(func.sum(UsageLog.cost), 0)))).one()
            user = await s.get(User, self.user_id)
            key = await s.get(ApiKey, self.key_id)
            assert user is not None and key is not None
            return n, cost, user.balance, user.used, key.used


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Db]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'j.db'}"
    await migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    from relaygate.store.repos import utcnow

    async with sessions() as s, s.begin():
        user = User(name="u", group="default", balance=BALANCE, used=0, enabled=True, created_at=utcnow())
        s.add(user)
        await s.flush()
        key = ApiKey(user_id=user.id, name="k", key_hash="h" * 64, key_hint="sk-...", used=0, created_at=utcnow())
        s.add(key)
    yield Db(sessions, user.id, key.id)
    await engine.dispose()


def record(db: Db, rid: str, cost: int) -> UsageRecord:
    return UsageRecord(request_id=rid, user_id=db.user_id, key_id=db.key_id, channel_id=1,
                       endpoint="chat.completions", model="m", prompt_tokens=3, completion_tokens=5, cost=cost)


def die_with_records(folder: Path, db: Db, costs: list[int], torn_tail: bytes = b"") -> None:
    """Another process journals records, then is SIGKILLed before any flush."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from relaygate.billing.journal import UsageJournal
        from relaygate.billing.recorder import UsageRecord
        j = UsageJournal(Path({str(folder)!r}))
        j.open()
        for i, cost in enumerate({costs!r}):
            j.append(UsageRecord(request_id=f"dead-{{i}}", user_id={db.user_id}, key_id={db.key_id},
                                 channel_id=1, endpoint="chat.completions", model="m", cost=cost))
        if {torn_tail!r}:
            os.write(j._fd, {torn_tail!r})  # a write cut short
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


async def test_a_killed_process_records_are_replayed_with_their_charges(tmp_path: Path, db: Db) -> None:
    folder = tmp_path / "journal"
    die_with_records(folder, db, [10, 20, 0, 7])
    assert len(list(folder.glob("*.journal"))) == 1
    result = await replay_journals(folder, db.sessions)
    assert (result.records, result.inserted, result.charged) == (4, 4, 37)
    assert await db.account() == (4, 37, BALANCE - 37, 37, 37)
    assert not list(folder.glob("*.journal")) and not list(folder.glob("*.lock"))  # the replay gate stays
    again = await replay_journals(folder, db.sessions)
    assert again.inserted == 0
    assert await db.account() == (4, 37, BALANCE - 37, 37, 37)


async def test_a_crash_after_the_replay_committed_does_not_charge_twice(tmp_path: Path, db: Db,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "journal"
    die_with_records(folder, db, [5, 6, 7])
    # the replay commits, then the process dies before deleting the segments
    monkeypatch.setattr(replay_mod._Claim, "remove", lambda self, folder: None)
    first = await replay_journals(folder, db.sessions)
    assert first.inserted == 3
    monkeypatch.undo()
    second = await replay_journals(folder, db.sessions)
    assert (second.records, second.inserted, second.already_written) == (3, 0, 3)
    assert await db.account() == (3, 18, BALANCE - 18, 18, 18)


async def test_a_crash_during_the_replay_transaction_leaves_everything_for_the_next_start(
        tmp_path: Path, db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "journal"
    die_with_records(folder, db, [5, 6])
    real = replay_mod.write_rows

    async def write_then_fail(session, rows):  # type: ignore[no-untyped-def]
        await real(session, rows)
        raise RuntimeError("killed mid-transaction")

    monkeypatch.setattr(replay_mod, "write_rows", write_then_fail)
    with pytest.raises(RuntimeError):
        await replay_journals(folder, db.sessions)
    assert await db.account() == (0, 0, BALANCE, 0, 0)
    monkeypatch.undo()
    result = await replay_journals(folder, db.sessions)
    assert result.inserted == 2
    assert await db.account() == (2, 11, BALANCE - 11, 11, 11)


async def test_a_torn_last_line_is_skipped_and_the_rest_replayed(tmp_path: Path, db: Db) -> None:
    folder = tmp_path / "journal"
    die_with_records(folder, db, [1, 2], torn_tail=b'{"request_id":"dead-x","user_id":')
    result = await replay_journals(folder, db.sessions)
    assert (result.inserted, result.torn) == (2, 1)
    assert await db.account() == (2, 3, BALANCE - 3, 3, 3)


async def test_a_live_workers_journal_is_left_alone(tmp_path: Path, db: Db) -> None:
    folder = tmp_path / "journal"
    live = UsageJournal(folder)
    live.open()
    live.append(record(db, "live-1", 9))
    result = await replay_journals(folder, db.sessions)
    assert result.inserted == 0 and result.skipped_owners == [live.owner]
    live.close(clean=False)  # stopped without writing its batch: now it is replayed
    assert (await replay_journals(folder, db.sessions)).inserted == 1
    assert await db.account() == (1, 9, BALANCE - 9, 9, 9)


async def test_the_recorder_deletes_segments_only_after_their_batch_committed(
        tmp_path: Path, db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "journal"
    journal = UsageJournal(folder)
    journal.open()
    rec = UsageRecorder(db.sessions, interval_s=60, journal=journal)
    rec.add(record(db, "a", 1))
    rec.add(record(db, "b", 2))
    real_write = rec._write

    async def failing(batch):  # type: ignore[no-untyped-def]
        raise OSError("database down")

    monkeypatch.setattr(rec, "_write", failing)
    with pytest.raises(OSError):
        await rec.flush()
    rec.add(record(db, "c", 4))
    assert len(list(folder.glob("*.journal"))) == 2  # the sealed one is kept, a new one took "c"
    # the process dies now: a replay from another worker would find all three
    lines = b"".join(p.read_bytes() for p in sorted(folder.glob("*.journal")))
    assert lines.count(b"\n") == 3
    monkeypatch.setattr(rec, "_write", real_write)
    assert await rec.flush() == 3
    segments = list(folder.glob("*.journal"))
    assert len(segments) == 1 and segments[0].stat().st_size == 0
    await rec.close()
    assert os.listdir(folder) == []
    assert await db.account() == (3, 7, BALANCE - 7, 7, 7)
