"""The ledger in Redis, for several gateway processes or hosts sharing balances.

Each operation is one Lua script, so reservation checks and updates are atomic across
instances. Hash fields: users ``bal``, ``used``, ``res``; keys ``used``, ``res``. Each process
also keeps ``hold:<worker>`` (what its requests in flight reserved, per account) and a heartbeat
``alive:<worker>``, so reservations of a process killed mid-request are returned (see ``sweep``).
Calls from concurrent requests share round trips on one lean connection (billing/redis_pipe.py),
and most requests reserve from a block this process reserved ahead (billing/redis_lease.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from relaygate.billing.ledger import Account, Charge
from relaygate.billing.redis_batch import ScriptBatcher
from relaygate.billing.redis_lease import LEASE, RELEASE_FN, LeaseBook
from relaygate.billing.redis_pipe import ScriptPipe
from relaygate.errors import unavailable_as_503

log = logging.getLogger("relaygate.ledger")


_REDIS_DOWN = (RedisError, OSError, TimeoutError)  # a request must not pass unreserved while Redis is down

# KEYS: user account, key account, this worker's holds. ARGV: reserved, cost, key budget or '', the
# holds' user field, the holds' key field. Releases the reservation (see RELEASE_FN), then charges.
_SETTLE = RELEASE_FN + """
local reserved = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
release(KEYS[1], ARGV[4], reserved)
release(KEYS[2], ARGV[5], reserved)
local ub = tonumber(redis.call('HGET', KEYS[1], 'bal') or '0')
local ur = tonumber(redis.call('HGET', KEYS[1], 'res') or '0')
local limit = math.max(0, ub - ur)
if ARGV[3] ~= '' then
  local ku = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
  local kr = tonumber(redis.call('HGET', KEYS[2], 'res') or '0')
  limit = math.min(limit, math.max(0, tonumber(ARGV[3]) - ku - kr))
end
local amount = math.min(cost, limit)
if amount > 0 then  -- Lua's -0 reaches Redis as "-0", which HINCRBY refuses: a free request must not fail
  redis.call('HINCRBY', KEYS[1], 'bal', -amount)
  redis.call('HINCRBY', KEYS[1], 'used', amount)
  redis.call('HINCRBY', KEYS[2], 'used', amount)
end
return amount
"""

# KEYS: a worker's heartbeat, its holds. ARGV: the ledger's key prefix ("<prefix>:ledger:").
# A worker that died (SIGKILL, power loss) leaves its in-flight reservations behind; once its
# heartbeat has lapsed they go back to the accounts, atomically with the check.
_RELEASE_DEAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local held = redis.call('HGETALL', KEYS[2])
local total = 0
for i = 1, #held, 2 do
  local amount = tonumber(held[i + 1])
  if amount > 0 then
    redis.call('HINCRBY', ARGV[1] .. held[i], 'res', -amount)
    if string.sub(held[i], 1, 2) == 'u:' then total = total + amount end
  end
end
redis.call('DEL', KEYS[2])
return total
"""

_SET_BALANCE = """
local old = tonumber(redis.call('HGET', KEYS[1], 'bal') or '0')
redis.call('HSET', KEYS[1], 'bal', ARGV[1])
return tonumber(ARGV[1]) - old
"""

_ADD_BALANCE = """
local bal = tonumber(redis.call('HGET', KEYS[1], 'bal') or '0')
local new = bal + tonumber(ARGV[1])
if ARGV[2] ~= '' and new < tonumber(ARGV[2]) then return nil end
redis.call('HSET', KEYS[1], 'bal', new)
return new
"""


Seeder = Callable[[int, int], Awaitable[tuple[tuple[int, int] | None, int]]]


class RedisLedger:
    """Balances in Redis; this process's in-flight reservations are tracked as its *holds*.

    A heartbeat key says the process is alive. Every process sweeps now and then for holds whose
    heartbeat has lapsed and returns them, so a killed worker's reservations do not lock money away.
    """

    def __init__(self, client: Any, prefix: str = "relaygate", seed: Seeder | None = None,
                 heartbeat_s: float = 5.0, lease_requests: int = 0, lease_idle_s: float = 1.0) -> None:
        self.r = client
        self.prefix = prefix
        self.seed = seed  # reloads one account from the database when Redis has lost it
        self.worker = uuid.uuid4().hex[:16]
        self.heartbeat_s = heartbeat_s
        self._alive = f"{prefix}:ledger:alive:{self.worker}"
        self._holds = f"{prefix}:ledger:hold:{self.worker}"
        self._batch: ScriptPipe | ScriptBatcher = ScriptPipe.for_client(client) or ScriptBatcher(client)
        self._settle = client.register_script(_SETTLE)
        self._release_dead = client.register_script(_RELEASE_DEAD)
        self._set_balance = client.register_script(_SET_BALANCE)
        self._add_balance = client.register_script(_ADD_BALANCE)
        self._lease = client.register_script(LEASE)
        self._beat_at = float("-inf")
        # blocks of quota reserved ahead (billing/redis_lease.py); 0 requests per block: every
        # request reserves in Redis
        self.leases = LeaseBook(self._top_up, self._give_back, lease_requests, lease_idle_s,
                                self._fresh, self._batch.link) if lease_requests > 0 else None
        self._pulse: asyncio.Task[None] | None = None
        self._closing = False

    def _u(self, user_id: int) -> str:
        return f"{self.prefix}:ledger:u:{user_id}"

    def _k(self, key_id: int) -> str:
        return f"{self.prefix}:ledger:k:{key_id}"

    async def load(self, users: dict[int, tuple[int, int]], keys: dict[int, int]) -> None:
        """Seed accounts that Redis does not hold yet; ones it holds are newer than the database."""
        await self._beat()
        pipe = self.r.pipeline(transaction=False)
        for uid, (bal, used) in users.items():
            pipe.hsetnx(self._u(uid), "bal", bal)
            pipe.hsetnx(self._u(uid), "used", used)
            pipe.hsetnx(self._u(uid), "res", 0)
        for kid, used in keys.items():
            pipe.hsetnx(self._k(kid), "used", used)
            pipe.hsetnx(self._k(kid), "res", 0)
        await pipe.execute()
        await self.sweep()
        if self._pulse is None:
            self._pulse = asyncio.get_running_loop().create_task(self._heartbeat(), name="ledger-heartbeat")
        if self.leases is not None:
            self.leases.start()

    async def _beat(self) -> None:
        await self.r.set(self._alive, b"1", px=int(self.heartbeat_s * 3000))
        self._beat_at = asyncio.get_running_loop().time()

    def _fresh(self) -> bool:
        """Beaten within two intervals: nobody can have swept this worker's holds (that takes three)."""
        return asyncio.get_running_loop().time() - self._beat_at < 2 * self.heartbeat_s

    async def _heartbeat(self) -> None:
        """Keep this worker's holds claimed, and return those of workers that stopped beating."""
        while not self._closing:  # redis-py may turn a cancellation mid-command into a ConnectionError
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._beat()
                await self.sweep()
            except (RedisError, OSError) as exc:
                if not self._closing:
                    log.warning("ledger heartbeat failed: %s", exc)

    async def sweep(self) -> int:
        """Return the reservations of dead workers to their accounts; the amount returned to users."""
        returned = 0
        async for name in self.r.scan_iter(match=f"{self.prefix}:ledger:hold:*", count=500):
            holds = name.decode() if isinstance(name, bytes) else name
            worker = holds.rsplit(":", 1)[1]
            alive = f"{self.prefix}:ledger:alive:{worker}"
            amount = int(await self._release_dead(keys=[alive, holds], args=[f"{self.prefix}:ledger:"]))
            if amount >= 0:
                returned += amount
                log.warning("returned %d micro-units reserved by stopped worker %s", amount, worker)
        return returned

    async def reserve(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> bool:
        leases = self.leases
        if leases is not None and leases.take(user_id, key_id, key_budget, amount):
            return True
        with unavailable_as_503("quota store", "quota_store_unavailable", _REDIS_DOWN, log):
            if leases is not None and await leases.reserve(user_id, key_id, key_budget, amount):
                return True
            result = await self._reserve_once(user_id, key_id, key_budget, amount)
            if result == -1 and self.seed is not None:  # Redis restarted empty: reload this account once
                user, key_used = await self.seed(user_id, key_id)
                if user is None:
                    return False
                log.warning("ledger account of user %s was missing in Redis; reloaded from the database", user_id)
                await self.load_one(user_id, user, key_id, key_used)
                result = await self._reserve_once(user_id, key_id, key_budget, amount)
            if result == 0 and leases is not None and await leases.give_back_user(user_id):
                result = await self._reserve_once(user_id, key_id, key_budget, amount)
            return result == 1

    async def _reserve_once(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> int:
        """1 reserved, 0 refused, -1 the account is missing: a lease of exactly ``amount`` (see LEASE)."""
        fut = self._top_up(user_id, key_id, key_budget, amount, amount, 0)
        try:
            return int((await asyncio.shield(fut))[0])
        except asyncio.CancelledError:  # the caller left; a reservation made meanwhile must not stay held
            fut.add_done_callback(lambda f: self._undo(f, user_id, key_id, key_budget, amount))
            raise

    def _top_up(self, user_id: int, key_id: int, key_budget: int | None, need: int, want: int,
                back: int) -> asyncio.Future[Any]:
        keys = [self._u(user_id), self._k(key_id), self._holds]
        args = [need, want, "" if key_budget is None else str(key_budget), f"u:{user_id}", f"k:{key_id}", back]
        return self._batch.call(self._lease, keys, args)

    def _give_back(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> asyncio.Future[Any]:
        return self._batch.call(self._settle, *self._settle_argv(user_id, key_id, key_budget, amount, 0))

    def _undo(self, fut: asyncio.Future[Any], user_id: int, key_id: int, key_budget: int | None,
              amount: int) -> None:
        if not fut.cancelled() and fut.exception() is None and int(fut.result()[0]) == 1:
            self._batch.call(self._settle, *self._settle_argv(user_id, key_id, key_budget, amount, 0))

    async def load_one(self, user_id: int, user: tuple[int, int], key_id: int, key_used: int) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.hsetnx(self._u(user_id), "bal", user[0])
        pipe.hsetnx(self._u(user_id), "used", user[1])
        pipe.hsetnx(self._u(user_id), "res", 0)
        pipe.hsetnx(self._k(key_id), "used", key_used)
        pipe.hsetnx(self._k(key_id), "res", 0)
        await pipe.execute()

    def _settle_argv(self, user_id: int, key_id: int, key_budget: int | None, reserved: int,
                     cost: int) -> tuple[list[str], list[Any]]:
        budget = "" if key_budget is None else str(key_budget)
        return ([self._u(user_id), self._k(key_id), self._holds],
                [reserved, cost, budget, f"u:{user_id}", f"k:{key_id}"])

    async def settle(self, user_id: int, key_id: int, key_budget: int | None, reserved: int,
                     cost: int) -> Charge:
        keys, args = self._settle_argv(user_id, key_id, key_budget, reserved, cost)
        amount = int(await asyncio.shield(self._batch.call(self._settle, keys, args)))
        return Charge(amount=amount, capped=amount < cost)

    async def set_balance(self, user_id: int, balance: int) -> int:
        return int(await self._set_balance(keys=[self._u(user_id)], args=[balance]))

    async def add_balance(self, user_id: int, delta: int, floor: int | None = 0) -> int | None:
        result = await self._add_balance(keys=[self._u(user_id)], args=[delta, "" if floor is None else floor])
        return None if result is None else int(result)

    async def add_user(self, user_id: int, balance: int, used: int = 0) -> None:
        await self.r.hset(self._u(user_id), mapping={"bal": balance, "used": used, "res": 0})

    async def add_key(self, key_id: int, used: int = 0) -> None:
        await self.r.hset(self._k(key_id), mapping={"used": used, "res": 0})

    async def user(self, user_id: int) -> Account:
        raw = await self.r.hgetall(self._u(user_id))
        return Account(balance=int(raw.get(b"bal", 0)), used=int(raw.get(b"used", 0)),
                       reserved=int(raw.get(b"res", 0)))

    async def key(self, key_id: int) -> Account:
        raw = await self.r.hgetall(self._k(key_id))
        return Account(used=int(raw.get(b"used", 0)), reserved=int(raw.get(b"res", 0)))

    async def close(self) -> None:
        """After the last settlement: stop beating and drop the (now empty) holds."""
        if self.leases is not None:
            await self.leases.close()
        self._closing = True
        if self._pulse is not None:
            self._pulse.cancel()
            await asyncio.wait([self._pulse], timeout=5)
        await self._batch.close()
        with contextlib.suppress(RedisError, OSError):
            if await self.r.hlen(self._holds):  # requests still in flight past the grace period
                log.warning("stopping with reservations still held; they return to their accounts"
                            " when this worker's heartbeat lapses")
                return
            await self.r.delete(self._alive, self._holds)
