"""The ledger's promises, checked on the in-process and the Redis implementation alike."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest

from relaygate.billing.ledger import LocalLedger
from relaygate.billing.redis_ledger import RedisLedger
from tests.services import REDIS_URL, redis_available


@pytest.fixture(params=["local", "redis", "redis-leases"])
async def ledgers(request: pytest.FixtureRequest) -> AsyncIterator[list]:
    """Two handles on one ledger: for Redis, two clients as two gateway processes would hold, with
    and without blocks reserved ahead."""
    if request.param == "local":
        ledger = LocalLedger()
        yield [ledger, ledger]
        return
    lease_requests = 16 if request.param == "redis-leases" else 0
    async with _redis_ledgers(heartbeat_s=5.0, lease_requests=lease_requests) as handles:
        await handles[1].load({}, {})  # both processes beat; each settles what it reserved
        yield handles


@contextlib.asynccontextmanager
async def _redis_ledgers(heartbeat_s: float, lease_requests: int = 0,
                         lease_idle_s: float = 1.0) -> AsyncIterator[list[RedisLedger]]:
    """Two Redis ledgers on their own clients, as two gateway processes hold them; cleaned up after."""
    if not redis_available():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: Redis ledger tests are SKIPPED")
    import redis.asyncio as aioredis

    prefix = f"test-{secrets.token_hex(4)}"
    clients = [aioredis.from_url(REDIS_URL), aioredis.from_url(REDIS_URL)]
    handles = [RedisLedger(c, prefix, heartbeat_s=heartbeat_s, lease_requests=lease_requests,
                           lease_idle_s=lease_idle_s) for c in clients]
    try:
        yield handles
    finally:
        for handle in handles:
            await handle.close()
        keys = [k async for k in clients[0].scan_iter(f"{prefix}:*")]
        if keys:
            await clients[0].delete(*keys)
        for c in clients:
            await c.aclose()


async def test_reserve_refuses_what_the_balance_cannot_cover(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, _ = ledgers
    await a.load({1: (1000, 0)}, {10: 0})
    assert await a.reserve(1, 10, None, 600)
    assert not await a.reserve(1, 10, None, 600), "a second reservation overdrew the balance"
    assert await a.reserve(1, 10, None, 400)
    assert (await a.user(1)).reserved == 1000


async def test_settle_charges_exact_cost_and_releases_the_rest(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, b = ledgers
    await a.load({1: (1000, 0)}, {10: 0})
    assert await a.reserve(1, 10, None, 600)
    charge = await a.settle(1, 10, None, 600, 250)
    assert charge.amount == 250 and not charge.capped
    user = await b.user(1)  # what every process sees
    assert (user.balance, user.used, user.reserved) == (750, 250, 0)
    assert (await a.key(10)).used == 250


async def test_a_free_request_settles(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, _ = ledgers
    await a.load({1: (1000, 0)}, {10: 0})
    assert await a.reserve(1, 10, None, 600)
    charge = await a.settle(1, 10, None, 600, 0)  # an upstream error, a free model: nothing to charge
    assert charge.amount == 0 and not charge.capped
    user = await a.user(1)
    assert (user.balance, user.used, user.reserved) == (1000, 0, 0)


async def test_settle_never_takes_an_account_below_zero(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, _ = ledgers
    await a.load({1: (100, 0)}, {10: 0})
    assert await a.reserve(1, 10, None, 100)
    charge = await a.settle(1, 10, None, 100, 180)  # the upstream reported more than estimated
    assert charge.amount == 100 and charge.capped
    assert (await a.user(1)).balance == 0


async def test_key_budget_limits_independently_of_the_user(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, _ = ledgers
    await a.load({1: (10_000, 0)}, {10: 0, 11: 0})
    assert await a.reserve(1, 10, 500, 400)
    assert not await a.reserve(1, 10, 500, 200)
    assert await a.reserve(1, 11, None, 200), "another key of the same user is not limited"
    await a.settle(1, 10, 500, 400, 400)
    assert not await a.reserve(1, 10, 500, 101)
    assert await a.reserve(1, 10, 500, 100)


async def test_concurrent_reservations_from_two_processes_never_overdraw(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, b = ledgers
    await a.load({1: (10 * 77, 0)}, {10: 0})
    handles = [a if i % 2 else b for i in range(100)]
    results = await asyncio.gather(*(h.reserve(1, 10, None, 77) for h in handles))
    assert sum(results) == 10
    await asyncio.gather(*(h.settle(1, 10, None, 77, 50) for h, ok in zip(handles, results, strict=True) if ok))
    user = await a.user(1)
    assert (user.balance, user.used, user.reserved) == (770 - 500, 500, 0)


async def test_set_balance_returns_the_delta_for_the_database(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, _ = ledgers
    await a.load({1: (1000, 0)}, {})
    await a.reserve(1, 10, None, 300)
    assert await a.set_balance(1, 5000) == 4000
    assert (await a.user(1)).reserved == 300, "a top-up must not forget reservations in flight"


async def test_unknown_user_cannot_reserve(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, _ = ledgers
    await a.load({}, {})
    assert not await a.reserve(99, 10, None, 1)


async def test_add_balance_is_atomic_and_respects_the_floor(ledgers) -> None:  # type: ignore[no-untyped-def]
    a, b = ledgers
    await a.load({1: (1000, 0)}, {})
    results = await asyncio.gather(*((a if i % 2 else b).add_balance(1, 10) for i in range(50)))
    assert sorted(results)[-1] == 1500 and len(set(results)) == 50
    assert await a.add_balance(1, -2000) is None
    assert (await a.user(1)).balance == 1500
    assert await a.add_balance(1, -2000, floor=None) == -500


@pytest.fixture()
async def redis_pair() -> AsyncIterator[list[RedisLedger]]:
    """Two Redis-backed processes with a fast heartbeat, so a dead one is noticed within a second."""
    async with _redis_ledgers(heartbeat_s=0.1) as handles:
        yield handles


async def _kill(ledger: RedisLedger) -> None:
    """What SIGKILL does to a process's ledger: its heartbeat stops, nothing is cleaned up."""
    assert ledger._pulse is not None
    ledger._closing = True
    ledger._pulse.cancel()
    await asyncio.wait([ledger._pulse], timeout=5)
    ledger._pulse, ledger._closing = None, False


async def test_a_killed_workers_reservations_return_to_the_account(redis_pair) -> None:  # type: ignore[no-untyped-def]
    a, b = redis_pair
    await a.load({1: (1000, 0)}, {10: 0})
    await b.load({}, {})
    assert await a.reserve(1, 10, None, 600)
    assert await b.reserve(1, 10, None, 300)
    await _kill(a)
    assert not await b.reserve(1, 10, None, 200), "a's reservation still counts while a may be alive"
    await asyncio.sleep(0.5)  # a's heartbeat (3 beats) lapses; b's sweep returns a's holds
    user = await b.user(1)
    assert (user.balance, user.reserved) == (1000, 300)
    assert (await b.key(10)).reserved == 300
    assert await b.reserve(1, 10, None, 700)


async def test_a_late_settlement_after_a_sweep_is_not_released_twice(redis_pair) -> None:  # type: ignore[no-untyped-def]
    a, b = redis_pair
    await a.load({1: (1000, 0)}, {10: 0})
    await b.load({}, {})
    assert await a.reserve(1, 10, None, 600)
    await _kill(a)  # a stalls past its heartbeat, then comes back and settles
    await asyncio.sleep(0.5)
    assert (await b.user(1)).reserved == 0
    assert await b.reserve(1, 10, None, 400)
    charge = await a.settle(1, 10, None, 600, 100)
    assert charge.amount == 100
    user = await b.user(1)
    assert (user.balance, user.used, user.reserved) == (900, 100, 400), "the sweep and the settle both released"


async def test_a_live_workers_reservations_are_not_swept(redis_pair) -> None:  # type: ignore[no-untyped-def]
    a, b = redis_pair
    await a.load({1: (1000, 0)}, {10: 0})
    await b.load({}, {})
    assert await a.reserve(1, 10, None, 600)
    await asyncio.sleep(0.5)
    assert await b.sweep() == 0
    assert (await b.user(1)).reserved == 600


async def test_a_cancelled_reservation_does_not_stay_held(redis_pair) -> None:  # type: ignore[no-untyped-def]
    a, _ = redis_pair
    await a.load({1: (1000, 0)}, {10: 0})
    tasks = [asyncio.create_task(a.reserve(1, 10, None, 100)) for _ in range(5)]
    await asyncio.sleep(0)  # queued for the next pipeline, not yet answered
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.1)
    assert (await a.user(1)).reserved == 0


async def test_scripts_are_reloaded_after_redis_forgets_them(redis_pair) -> None:  # type: ignore[no-untyped-def]
    a, _ = redis_pair
    await a.load({1: (1000, 0)}, {10: 0})
    await a.r.script_flush()
    results = await asyncio.gather(*(a.reserve(1, 10, None, 100) for _ in range(12)))
    assert sum(results) == 10
    assert (await a.user(1)).reserved == 1000
