"""A small soak (about 2,300 mixed requests) with the full soak's assertions except timing.

The full one is ``python -m bench.soak`` (bench/SOAK.md); this keeps its checks in the suite:
no 5xx made by the gateway, every request recorded and charged exactly once, and memory, open
files and asyncio tasks of the gateway flat between passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import soak_client as load
from bench.soak import SoakOptions, run
from tests.services import postgres_available

pytestmark = pytest.mark.timeout(180)


def test_small_soak_leaks_nothing_and_accounts_for_every_request(tmp_path: Path) -> None:
    opts = SoakOptions(requests=1_000, second_pass=1_000, warmup=300, concurrency=32, settle_s=1.5)
    result = run(opts, tmp_path)
    failed = [name for name, ok in result.checks.items() if not ok]
    examples = {v: e for p in result.passes for v, e in p.examples.items()}
    assert not failed, f"failed: {failed}\nsamples: {result.samples}\naccounting: {result.accounting}\n" \
                       f"bad responses: {examples}\nlog: {result.log_errors}"
    # the mix really had every kind of trouble in it
    for verdict in (load.RELAYED_5XX, load.CUT, load.LEFT, load.REFUSED):
        assert result.count(verdict) > 0, verdict
    assert result.accounting["records"] == 2_300


@pytest.mark.skipif(not postgres_available() or os.environ.get("RELAYGATE_TEST_DB") == "sqlite",
                    reason="PostgreSQL is not reachable (or RELAYGATE_TEST_DB=sqlite)")
def test_small_soak_on_postgresql(tmp_path: Path) -> None:
    from tests.services import create_pg_database, drop_pg_database

    url, name = create_pg_database("relaygate_soak")
    try:
        result = run(SoakOptions(requests=600, second_pass=600, warmup=200, concurrency=32, settle_s=1.5,
                                 database_url=url), tmp_path)
    finally:
        drop_pg_database(name)
    failed = [name for name, ok in result.checks.items() if not ok]
    assert not failed, f"failed: {failed}\nsamples: {result.samples}\naccounting: {result.accounting}"


def test_small_soak_with_two_workers_sharing_balances_through_redis(tmp_path: Path) -> None:
    from tests.services import REDIS_URL, redis_available

    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: the two-worker soak is SKIPPED")
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(url).flushdb()
    result = run(SoakOptions(requests=600, second_pass=600, warmup=200, concurrency=32, settle_s=1.5,
                             redis_url=url, workers=2), tmp_path)
    failed = [name for name, ok in result.checks.items() if not ok]
    assert not failed, f"failed: {failed}\nsamples: {result.samples}\naccounting: {result.accounting}\n" \
                       f"log: {result.log_errors}"
    assert len({s.pid for s in result.samples}) == 2  # both workers were sampled, every phase
    assert result.accounting["records"] == 1_400
