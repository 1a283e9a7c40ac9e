"""Per-process blocks of reserved quota, so most requests reserve without a Redis round trip.

With several processes sharing balances in Redis, every request paid two round trips: reserve
before the upstream call, settle before the answer's last byte. A *lease* is one reservation of
several requests' worth (a block) that this process then hands out locally. Only the reserve
moves; each request still settles in Redis on its own, releasing its share of the block. So:

- Redis always holds, as this process's holds, every block it leased: a SIGKILL leaves exactly
  what was not yet charged, and the sweep returns it (never money already spent).
- An account can still never end below zero: a block is a reservation like any other, and a
  settlement is capped at what the account holds.
- A block is only taken while the account can cover ``4 x`` its size, so it never locks up the
  last of a balance: near the end every request reserves exactly, as without leases.
- A block unused for ``idle_s`` goes back to its account. So does one whose process has not
  renewed its heartbeat lately (its holds may already have been swept), every block on close, and
  one reserved before the ledger's Redis connection dropped (Redis may have restarted empty): none
  is handed out while Redis is away, so an outage is a 503 at once, as without blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("relaygate.ledger")

LEASE_SHARE = 4  # a block is taken only while the account can cover this many blocks

# Prepended to the scripts that give reservations back: releases at most what this worker still
# holds, so a reservation a sweep already returned (the heartbeat lapsed) is not subtracted twice.
RELEASE_FN = """
local function release(account, field, reserved)
  local held = tonumber(redis.call('HGET', KEYS[3], field) or '0')
  local r = math.min(reserved, held)
  if r <= 0 then return end
  redis.call('HINCRBY', account, 'res', -r)
  if held - r <= 0 then redis.call('HDEL', KEYS[3], field) else redis.call('HINCRBY', KEYS[3], field, -r) end
end
"""

# KEYS: user account, key account, this worker's holds. ARGV: need, block size, key budget or '',
# the holds' user field, key field, the old block's unused rest to give back first.
# Returns {-1} if the account is missing, {0} if it cannot cover `need`, else {1, amount taken}.
# A plain reservation is this with a block of exactly `need` and nothing to give back.
LEASE = RELEASE_FN + f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {{-1}} end
local back = tonumber(ARGV[6])
release(KEYS[1], ARGV[4], back)
release(KEYS[2], ARGV[5], back)
local avail = tonumber(redis.call('HGET', KEYS[1], 'bal') or '0') - tonumber(redis.call('HGET', KEYS[1], 'res') or '0')
if ARGV[3] ~= '' then
  local ku = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
  local kr = tonumber(redis.call('HGET', KEYS[2], 'res') or '0')
  avail = math.min(avail, tonumber(ARGV[3]) - ku - kr)
end
local need = tonumber(ARGV[1])
if avail < need then return {{0}} end
local take = need
if avail >= tonumber(ARGV[2]) * {LEASE_SHARE} then take = tonumber(ARGV[2]) end
if take > 0 then
  redis.call('HINCRBY', KEYS[1], 'res', take)
  redis.call('HINCRBY', KEYS[2], 'res', take)
  redis.call('HINCRBY', KEYS[3], ARGV[4], take)
  redis.call('HINCRBY', KEYS[3], ARGV[5], take)
end
return {{1, take}}
"""

# (user, key, key budget, need, block size, give back) -> the script's reply
TopUp = Callable[[int, int, int | None, int, int, int], Awaitable[Any]]
# (user, key, key budget, amount): release an unused rest, charging nothing
GiveBack = Callable[[int, int, int | None, int], Awaitable[Any]]


@dataclass(slots=True)
class Lease:
    budget: int | None  # the key budget the block was checked against
    epoch: int | None = None  # the Redis connection it was reserved on (see ``link``)
    left: int = 0  # reserved in Redis, not yet handed to a request
    used_at: float = 0.0
    waiting: int = 0  # requests waiting on the top-up in flight
    peak: int = 0  # the most that waited on one top-up: the next block is sized for them
    topping: asyncio.Future[Any] | None = field(default=None, repr=False)


class LeaseBook:
    """This process's blocks, one per (user, key); ``take`` is the whole cost of a covered request."""

    def __init__(self, top_up: TopUp, give_back: GiveBack, requests: int, idle_s: float,
                 fresh: Callable[[], bool], link: Callable[[], int | None]) -> None:
        self.top_up = top_up
        self.give_back = give_back
        self.requests = requests  # a block covers this many worst-case requests
        self.idle_s = idle_s
        self.fresh = fresh  # is this process's heartbeat recent enough for its holds to be its own?
        # the number of the ledger's Redis connection, None while it is down: a block reserved on an
        # earlier one may be gone (Redis restarted empty), so it is given back, never handed out
        self.link = link
        self.leases: dict[tuple[int, int], Lease] = {}
        self._returns: dict[tuple[int, int, int | None], int] = {}  # retired blocks' rests, to give back
        self._keeper: asyncio.Task[None] | None = None

    def take(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> bool:
        """Reserve from this process's block, without a round trip, if it covers ``amount``."""
        lease = self.leases.get((user_id, key_id))
        if lease is None or lease.left < amount or lease.budget != key_budget or lease.epoch != self.link() \
                or not self.fresh():
            return False
        lease.left -= amount
        lease.used_at = asyncio.get_running_loop().time()
        return True

    async def reserve(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> bool:
        """Top the block up (one round trip, shared by the requests that find it short) and take
        ``amount`` from it. False: reserve directly instead (refused, the account is missing, the
        new block fell short for this request, or this process's leases cannot be trusted now)."""
        if not self.fresh():
            return False
        slot = (user_id, key_id)
        lease = self.leases.get(slot)
        epoch = self.link()
        if lease is not None and lease.epoch is not None and epoch is None:
            return False  # Redis is away: the block's rest goes back once it is reachable again
        back = 0
        if lease is not None and (lease.budget != key_budget or lease.epoch not in (epoch, None)):
            if lease.topping is not None:  # the budget changed, or Redis reconnected: a new block
                return False
            back, lease.left = lease.left, 0  # given back by the top-up, before the new block is checked
            lease = None
        if lease is None:
            lease = self.leases[slot] = Lease(budget=key_budget)
        if lease.topping is None:
            back, lease.left = back + lease.left, 0
            want = amount * min(4 * self.requests, max(self.requests, 2 * lease.peak))
            lease.peak = 0
            lease.topping = asyncio.ensure_future(self.top_up(user_id, key_id, key_budget, amount, want, back))
            lease.topping.add_done_callback(lambda f: self._topped(lease, f, user_id, key_id, key_budget, back))
        lease.waiting += 1
        lease.peak = max(lease.peak, lease.waiting)
        try:
            await asyncio.shield(lease.topping)
        finally:
            lease.waiting -= 1
        return self.take(user_id, key_id, key_budget, amount)

    def _topped(self, lease: Lease, fut: asyncio.Future[Any], user_id: int, key_id: int,
                key_budget: int | None, back: int) -> None:
        """Credit the block however its callers fared (one of them may have been cancelled)."""
        lease.topping = None
        if fut.cancelled() or fut.exception() is not None:
            if back:
                _unconfirmed(user_id, back)
            return
        reply = fut.result()
        if int(reply[0]) == 1:
            lease.left += int(reply[1])
            lease.epoch = self.link()
            lease.used_at = asyncio.get_running_loop().time()

    def _retire(self, slot: tuple[int, int], lease: Lease) -> None:
        del self.leases[slot]
        if lease.left > 0:
            owed = (slot[0], slot[1], lease.budget)
            self._returns[owed] = self._returns.get(owed, 0) + lease.left
            lease.left = 0

    def start(self) -> None:
        """One task for the process's life (as the heartbeat), so idle blocks go back on time."""
        if self._keeper is None:
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="ledger-leases")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.idle_s / 2)
            try:
                await self.return_idle()
            except Exception as exc:  # never let the keeper die: blocks would stay held
                log.warning("returning idle quota blocks failed: %s", exc)

    async def give_back_user(self, user_id: int) -> bool:
        """Before a refusal stands: give back this process's unused blocks of the user (of any of its
        keys), which count against the balance too. True if there was any."""
        returned = False
        for slot, lease in list(self.leases.items()):
            if slot[0] == user_id and lease.topping is None and lease.left > 0:
                back, lease.left = lease.left, 0
                await self.give_back(user_id, slot[1], lease.budget, back)
                returned = True
        return returned

    async def return_idle(self, everything: bool = False) -> None:
        """Give back blocks idle for ``idle_s``, those reserved on an earlier Redis connection, all of
        them if this process's holds may be swept (or on close); while Redis is away, nothing."""
        epoch = self.link()
        if epoch is None and not everything:
            return
        now = asyncio.get_running_loop().time()
        stale = everything or not self.fresh()
        for slot, lease in list(self.leases.items()):
            if lease.topping is None and (stale or lease.epoch != epoch or now - lease.used_at >= self.idle_s):
                self._retire(slot, lease)
        returns, self._returns = self._returns, {}
        for (user_id, key_id, key_budget), amount in returns.items():
            try:
                await self.give_back(user_id, key_id, key_budget, amount)
            except Exception:
                _unconfirmed(user_id, amount)

    async def close(self) -> None:
        """Give every block back (on shutdown, after the last settlement)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        pending = [lease.topping for lease in self.leases.values() if lease.topping is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self.return_idle(everything=True)


def _unconfirmed(user_id: int, amount: int) -> None:
    """A give-back whose reply was lost may or may not have run; sending it again could release
    other requests' reservations, so the rest stays held (never overspent) until this process stops."""
    log.warning("could not confirm that %d micro-units of user %s went back to the account; they are"
                " returned when this process stops", amount, user_id)
