"""SIGKILL under load, then restart on the same data folder: with the usage journal no completed
request loses its record and balances stay equal to the records' costs; without it, every record
still queued in memory is lost (which is what shows that this check sees losses at all).

The flush interval is set longer than the load here, and the batch size larger than the requests it
can serve, so no batch commits before the kill: all records of the run are in memory (or in the
journal) when the process dies. bench/sigkill.py
measures the same with the default 0.5 s interval (figures in bench/SOAK.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sigkill import measure

pytestmark = pytest.mark.timeout(120)


def test_without_the_journal_a_kill_loses_the_queued_records(tmp_path: Path) -> None:
    r = measure(tmp_path, journal=False, flush_interval_s=30, load_s=1.5, concurrency=16, flush_batch=1_000_000)
    assert r.completed > 50
    assert r.lost == r.completed and r.records == 0  # nothing was flushed before the kill
    assert r.balance_ok and r.cost == 0  # lost with their records: the balance is still consistent


def test_with_the_journal_a_kill_loses_nothing_and_balances_match_the_records(tmp_path: Path) -> None:
    r = measure(tmp_path, journal=True, flush_interval_s=30, load_s=1.5, concurrency=16, flush_batch=1_000_000)
    assert r.completed > 50
    assert r.lost == 0, f"{r.lost} of {r.completed} completed requests have no usage record"
    assert r.replayed >= r.completed  # they came back from the journal (plus requests cut off mid-answer)
    assert r.records == r.replayed
    assert r.balance_ok and r.cost > 0, r


def test_with_the_journal_and_the_default_flush_interval_nothing_is_lost(tmp_path: Path) -> None:
    r = measure(tmp_path, journal=True, flush_interval_s=0.5, load_s=2.0, concurrency=16)
    assert r.completed > 50
    assert r.lost == 0, f"{r.lost} of {r.completed} completed requests have no usage record"
    assert r.balance_ok and r.cost > 0, r
