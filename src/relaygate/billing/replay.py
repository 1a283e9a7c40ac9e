"""Start-up replay of usage journals left by processes that died before their batch committed.

Runs before the process serves and before the ledger loads balances from the database, so the
balances it loads already carry the replayed charges. Idempotent: a record whose request_id is
already in the database (its batch did commit; only the segment's deletion was lost) is skipped,
and the inserts and balance deltas go in one transaction, so a crash during replay leaves the
segments for the next start, which then finds nothing or everything already written. request_id is
indexed but not unique, so existence is checked by query, in chunks.

Several workers share one data folder: a segment is replayed only when its owner's lock can be
taken (the owner is dead), and a folder-wide ``replay.gate`` lock keeps two starting workers from
replaying the same segments at once (which could insert them twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from relaygate.billing.journal import LOCK_SUFFIX, SUFFIX
from relaygate.billing.recorder import FIELDS, write_rows
from relaygate.store.models import UsageLog

log = logging.getLogger("relaygate.usage")

_CHUNK = 500  # request ids per existence query (well under every backend's parameter limit)


@dataclass
class ReplayResult:
    segments: int = 0
    records: int = 0  # complete lines found
    inserted: int = 0
    already_written: int = 0
    torn: int = 0  # unparsable lines (a write cut short), skipped
    charged: int = 0  # sum of the inserted records' costs
    skipped_owners: list[str] = field(default_factory=list)  # live processes


def _owner_of(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _parse(path: Path, result: ReplayResult) -> list[dict]:
    rows = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            raw = orjson.loads(line)
            row = {name: raw[name] for name in FIELDS}
            row["created_at"] = datetime.fromisoformat(row["created_at"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            result.torn += 1
            continue
        rows.append(row)
    return rows


def _claim_dead_owners(folder: Path, own: str | None, result: ReplayResult) -> tuple[list[Path], dict[str, int]]:
    """Segments of owners that are gone, with their lock files held so no one else takes them."""
    by_owner: dict[str, list[Path]] = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        owner = _owner_of(path)
        if owner != own:
            by_owner.setdefault(owner, []).append(path)
    segments: list[Path] = []
    held: dict[str, int] = {}
    for owner, paths in by_owner.items():
        lock = folder / f"{owner}{LOCK_SUFFIX}"
        if lock.exists():
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live worker's journal
                os.close(fd)
                result.skipped_owners.append(owner)
                continue
            held[owner] = fd
        segments += paths  # a lock file that is gone: its owner finished stopping (or never wrote one)
    for lock in folder.glob(f"*{LOCK_SUFFIX}"):  # a dead owner's lock left without segments
        owner = lock.name[: -len(LOCK_SUFFIX)]
        if owner in by_owner or owner == own:
            continue
        with contextlib.suppress(OSError):
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lock.unlink()
            finally:
                os.close(fd)
    return segments, held


@dataclass
class _Claim:
    """What one replay holds: the folder's replay lock, dead owners' locks, their records."""

    gate: int
    result: ReplayResult
    held: dict[str, int] = field(default_factory=dict)
    segments: list[Path] = field(default_factory=list)
    rows: dict[str, dict] = field(default_factory=dict)

    def remove(self, folder: Path) -> None:
        """Only after the commit: a crash before this replays the segments again, harmlessly."""
        for path in self.segments:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for owner in self.held:
            with contextlib.suppress(FileNotFoundError):
                (folder / f"{owner}{LOCK_SUFFIX}").unlink()

    def release(self) -> None:
        for fd in self.held.values():
            os.close(fd)
        os.close(self.gate)  # releases the replay lock


def _claim(folder: Path, own: str | None) -> _Claim | None:
    """Blocking part: wait for the replay lock (another worker may be replaying), claim, read."""
    if not folder.is_dir():
        return None
    gate = os.open(folder / "replay.gate", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    claim = _Claim(gate, ReplayResult())
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        claim.segments, claim.held = _claim_dead_owners(folder, own, claim.result)
        claim.result.segments = len(claim.segments)
        for path in claim.segments:
            for row in _parse(path, claim.result):
                claim.result.records += 1
                claim.rows.setdefault(row["request_id"], row)
    except BaseException:
        claim.release()
        raise
    return claim


async def replay_journals(folder: Path, sessions: async_sessionmaker, own: str | None = None) -> ReplayResult:
    """Write the records of stopped processes' journals that the database does not have yet."""
    claim = await asyncio.to_thread(_claim, folder, own)
    if claim is None:
        return ReplayResult()
    result, rows = claim.result, claim.rows
    try:
        if not claim.segments:
            return result
        async with sessions() as s, s.begin():
            ids = list(rows)
            for i in range(0, len(ids), _CHUNK):
                found = await s.scalars(select(UsageLog.request_id).where(UsageLog.request_id.in_(ids[i:i + _CHUNK])))
                for rid in found:
                    rows.pop(rid, None)
            result.already_written = len(ids) - len(rows)
            if rows:
                await write_rows(s, list(rows.values()))
        result.inserted = len(rows)
        result.charged = sum(r["cost"] for r in rows.values())
        await asyncio.to_thread(claim.remove, folder)
        log.warning("usage journal replay: %d records in %d segments of stopped processes; %d written now "
                    "(cost %d micro-units), %d were already in the database, %d torn lines skipped",
                    result.records, result.segments, result.inserted, result.charged, result.already_written,
                    result.torn)
        return result
    finally:
        claim.release()
