"""Append-only journal of usage records, so a killed process loses (almost) none of them.

The recorder writes records to the database in batches (every ``usage_flush_interval_s``); until
a batch commits, its records and their balance changes exist only in memory, and a SIGKILL, an
OOM kill or a crash would lose them. The journal closes that gap: each record is appended as one
orjson line with a single unbuffered ``os.write`` the moment it is queued. The bytes are then in
the kernel's page cache, which outlives the process, so the next start finds them.

Power loss or a kernel crash is a different matter: the page cache goes with it, so the last
few seconds of records may be lost unless ``RELAYGATE_USAGE_JOURNAL_FSYNC`` is on, which opens
segments with ``O_DSYNC`` (every append waits for the disk: a real cost per request).

Files, in ``<data-dir>/journal/``: each worker process has an owner id ``<pid>-<random>`` (pids
repeat across restarts, in containers always) and holds an exclusive ``flock`` on
``<owner>.lock`` while it lives. Its records go to segments ``<owner>.<seq>.journal``. When the
recorder takes a batch it seals the current segment (new records go to a fresh one) and deletes
the sealed ones only once the batch has committed. A clean stop deletes everything it owns.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("relaygate.usage")

SUFFIX = ".journal"
LOCK_SUFFIX = ".lock"


class UsageJournal:
    """One process's journal. ``append`` is the only call on the hot path."""

    def __init__(self, folder: Path, fsync: bool = False) -> None:
        self.folder = folder
        self.fsync = fsync
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.appended = 0
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._seq = 0
        self._bytes = 0  # written to the current segment
        self._sealed: list[Path] = []
        self._write_failed = False

    @property
    def lock_path(self) -> Path:
        return self.folder / f"{self.owner}{LOCK_SUFFIX}"

    def open(self) -> None:
        """Take this owner's lock first: from then on a starting worker sees us alive."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._open_segment()

    def _open_segment(self) -> None:
        self._seq += 1
        self._path = self.folder / f"{self.owner}.{self._seq:06d}{SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | (os.O_DSYNC if self.fsync else 0)
        self._fd = os.open(self._path, flags, 0o600)
        self._bytes = 0

    def append(self, record: Any) -> None:
        """One line, one write(2). A failure is logged once and never fails the request."""
        if self._fd is None:
            return
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        try:
            os.write(self._fd, line)
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                log.error("usage journal %s: write failed (%s); records are kept in memory only", self._path, exc)
            return
        self._bytes += len(line)
        self.appended += 1

    def seal(self) -> list[Path]:
        """Called as a batch is taken: later records go to a new segment. Returns every sealed
        segment not yet committed; all their records are in the batch about to be written."""
        if self._fd is not None and self._bytes:
            os.close(self._fd)
            assert self._path is not None
            self._sealed.append(self._path)
            self._open_segment()
        return list(self._sealed)

    def committed(self, segments: list[Path]) -> None:
        """The batch holding these segments' records is in the database: they can go."""
        for path in segments:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        done = set(segments)
        self._sealed = [p for p in self._sealed if p not in done]

    def close(self, clean: bool) -> None:
        """``clean``: every record reached the database, so remove what we own. Otherwise keep the
        segments; closing the lock lets the next start replay them."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if clean:
            for path in [*self._sealed, self._path]:
                if path is not None:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            self._sealed = []
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
