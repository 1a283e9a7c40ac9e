"""Blocks of quota reserved ahead by a Redis-backed process: what Redis shows, what a crash leaves."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from relaygate.billing.redis_ledger import RedisLedger
from tests.billing.test_ledger import _kill, _redis_ledgers

BIG = 1_000_000


@pytest.fixture()
async def pair() -> AsyncIterator[list[RedisLedger]]:
    """a: a process leasing blocks of 16 requests, idle ones returned after 0.2 s; b: one that
    reserves request by request, used to look at Redis as every process sees it."""
    async with _redis_ledgers(heartbeat_s=0.1, lease_requests=16, lease_idle_s=0.2) as (a, b):
        b.leases = None
        await a.load({1: (BIG, 0)}, {10: 0})
        await b.load({}, {})
        yield [a, b]


async def _reserved(ledger: RedisLedger) -> tuple[int, int]:
    return (await ledger.user(1)).reserved, (await ledger.key(10)).reserved


async def test_a_block_covers_the_next_requests_without_touching_redis(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.reserve(1, 10, None, 100)
    assert await _reserved(b) == (1600, 1600), "the first request leases a block of 16"
    for _ in range(15):
        assert await a.reserve(1, 10, None, 100)
    assert await _reserved(b) == (1600, 1600), "requests covered by the block reserved in Redis"
    charge = await a.settle(1, 10, None, 100, 40)
    assert charge.amount == 40 and not charge.capped
    user = await b.user(1)
    assert (user.balance, user.used, user.reserved) == (BIG - 40, 40, 1500)
    assert await a.reserve(1, 10, None, 100), "an exhausted block is topped up"
    assert (await b.user(1)).reserved == 1500 + 1600


async def test_the_last_of_a_balance_is_reserved_request_by_request(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    await b.set_balance(1, 6000)  # under 4 blocks of 1600: no block is taken
    assert await a.reserve(1, 10, None, 100)
    assert await _reserved(b) == (100, 100)
    assert await b.reserve(1, 10, None, 5900), "a's process holds nothing beyond its request"
    assert not await a.reserve(1, 10, None, 1)


async def test_an_idle_block_goes_back_to_the_account(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.reserve(1, 10, None, 100)
    await a.settle(1, 10, None, 100, 30)
    assert await _reserved(b) == (1500, 1500)
    await asyncio.sleep(0.5)
    assert await _reserved(b) == (0, 0)
    user = await b.user(1)
    assert (user.balance, user.used) == (BIG - 30, 30)
    assert not a.leases.leases  # type: ignore[union-attr]


async def test_shutdown_gives_every_block_back(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.reserve(1, 10, None, 100)
    await a.settle(1, 10, None, 100, 100)
    await a.close()
    assert await _reserved(b) == (0, 0)
    assert not await b.r.exists(a._holds)


async def test_a_killed_process_returns_its_blocks_but_not_what_it_spent(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    for _ in range(3):
        assert await a.reserve(1, 10, None, 100)
    await a.settle(1, 10, None, 100, 50)
    await a.settle(1, 10, None, 100, 70)
    a.leases.idle_s = 60  # type: ignore[union-attr]  # only the sweep may return the block
    await _kill(a)
    await asyncio.sleep(0.6)  # a's heartbeat lapses; b's sweep returns a's holds
    user = await b.user(1)
    assert (user.balance, user.used, user.reserved) == (BIG - 120, 120, 0)
    assert (await b.key(10)).used == 120


async def test_a_stale_heartbeat_stops_the_use_of_blocks(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.reserve(1, 10, None, 100)
    await _kill(a)
    a._beat_at = float("-inf")  # its holds may be swept at any moment: they are not a's to hand out
    assert await a.reserve(1, 10, None, 100)
    assert await _reserved(b) == (1700, 1700), "reserved in Redis, not taken from the block"


async def test_a_changed_key_budget_is_not_served_from_the_old_block(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.reserve(1, 10, None, 100)
    assert await a.reserve(1, 10, 1000, 100), "the old block went back before the new budget was checked"
    assert await _reserved(b) == (200, 200), "a tight budget is reserved request by request"
    assert await a.reserve(1, 10, 1000, 800)
    assert not await a.reserve(1, 10, 1000, 1)


async def test_a_refusal_first_gives_back_this_processs_blocks_of_the_user(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    await a.add_key(11)
    assert await a.reserve(1, 10, None, 10_000)  # a block of 160,000 on key 10
    assert await _reserved(b) == (160_000, 160_000)
    assert await a.reserve(1, 11, None, BIG - 20_000), "key 11's request fits once key 10's rest is back"
    user = await b.user(1)
    assert user.reserved == 10_000 + BIG - 20_000


async def test_a_caller_that_leaves_mid_top_up_leaves_nothing_held(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    tasks = [asyncio.create_task(a.reserve(1, 10, None, 100)) for _ in range(4)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.6)
    assert await _reserved(b) == (0, 0)


async def test_two_leasing_processes_never_overdraw(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    c = RedisLedger(b.r, a.prefix, heartbeat_s=0.1, lease_requests=16, lease_idle_s=0.2)
    await c.load({}, {})
    try:
        await b.set_balance(1, 20_000)
        rng = random.Random(7)

        async def one(ledger: RedisLedger) -> int:
            if not await ledger.reserve(1, 10, None, 100):
                return 0
            await asyncio.sleep(rng.random() / 100)
            cost = rng.randint(0, 100)
            return (await ledger.settle(1, 10, None, 100, cost)).amount

        charged = sum(await asyncio.gather(*(one(a if i % 2 else c) for i in range(600))))
        user = await b.user(1)
        assert user.balance == 20_000 - charged >= 0
        assert user.used == charged == (await b.key(10)).used
        await asyncio.sleep(0.5)
        assert await _reserved(b) == (0, 0), "every block went back"
    finally:
        await c.close()


async def test_a_block_from_before_a_reconnection_is_given_back_not_handed_out(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert await a.reserve(1, 10, None, 100)
    assert await a.reserve(1, 10, None, 100)
    assert await _reserved(b) == (1600, 1600)
    a._batch._conn.abort()  # Redis restarted, or the network dropped: was the block kept? Unknown here
    await asyncio.sleep(0.05)
    assert await a.reserve(1, 10, None, 100)
    assert await _reserved(b) == (1700, 1700), "reserved in Redis, not taken from the old block"
    await asyncio.sleep(0.3)  # the old block's unused 1,400 went back over the new connection
    assert await _reserved(b) == (300, 300)
