"""The ledger in Redis, for several gateway processes or hosts sharing balances.

Each operation is one Lua script, so reservation checks and updates are atomic across
instances. Hash fields: users ``bal``, ``used``, ``res``; keys ``used``, ``res``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from redis.exceptions import RedisError

from relaygate.billing.ledger import Account, Charge
from relaygate.errors import GatewayError

log = logging.getLogger("relaygate.ledger")


@contextlib.contextmanager
def _unavailable_as_503() -> Iterator[None]:
    """A request must not pass unreserved when Redis is down: refuse it, clearly and retryably."""
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        log.error("quota store unavailable: %s", exc)
        raise GatewayError(503, "The quota store is unavailable; try again shortly.", "service_unavailable",
                           "quota_store_unavailable", headers={"Retry-After": "1"}) from None

_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ub = tonumber(redis.call('HGET', KEYS[1], 'bal') or '0')
local ur = tonumber(redis.call('HGET', KEYS[1], 'res') or '0')
local amount = tonumber(ARGV[1])
if ub - ur < amount then return 0 end
if ARGV[2] ~= '' then
  local budget = tonumber(ARGV[2])
  local ku = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
  local kr = tonumber(redis.call('HGET', KEYS[2], 'res') or '0')
  if budget - ku - kr < amount then return 0 end
end
redis.call('HINCRBY', KEYS[1], 'res', amount)
redis.call('HINCRBY', KEYS[2], 'res', amount)
return 1
"""

_SETTLE = """
local reserved = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'res', -reserved)
redis.call('HINCRBY', KEYS[2], 'res', -reserved)
local ub = tonumber(redis.call('HGET', KEYS[1], 'bal') or '0')
local ur = tonumber(redis.call('HGET', KEYS[1], 'res') or '0')
local limit = math.max(0, ub - ur)
if ARGV[3] ~= '' then
  local ku = tonumber(redis.call('HGET', KEYS[2], 'used') or '0')
  local kr = tonumber(redis.call('HGET', KEYS[2], 'res') or '0')
  limit = math.min(limit, math.max(0, tonumber(ARGV[3]) - ku - kr))
end
local amount = math.min(cost, limit)
redis.call('HINCRBY', KEYS[1], 'bal', -amount)
redis.call('HINCRBY', KEYS[1], 'used', amount)
redis.call('HINCRBY', KEYS[2], 'used', amount)
return amount
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
    def __init__(self, client: Any, prefix: str = "relaygate", seed: Seeder | None = None) -> None:
        self.r = client
        self.prefix = prefix
        self.seed = seed  # reloads one account from the database when Redis has lost it
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._set_balance = client.register_script(_SET_BALANCE)
        self._add_balance = client.register_script(_ADD_BALANCE)

    def _u(self, user_id: int) -> str:
        return f"{self.prefix}:ledger:u:{user_id}"

    def _k(self, key_id: int) -> str:
        return f"{self.prefix}:ledger:k:{key_id}"

    async def load(self, users: dict[int, tuple[int, int]], keys: dict[int, int]) -> None:
        """Seed accounts that Redis does not hold yet; ones it holds are newer than the database."""
        pipe = self.r.pipeline(transaction=False)
        for uid, (bal, used) in users.items():
            pipe.hsetnx(self._u(uid), "bal", bal)
            pipe.hsetnx(self._u(uid), "used", used)
            pipe.hsetnx(self._u(uid), "res", 0)
        for kid, used in keys.items():
            pipe.hsetnx(self._k(kid), "used", used)
            pipe.hsetnx(self._k(kid), "res", 0)
        await pipe.execute()

    async def reserve(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> bool:
        budget = "" if key_budget is None else str(key_budget)
        keys = [self._u(user_id), self._k(key_id)]
        with _unavailable_as_503():
            result = await self._reserve(keys=keys, args=[amount, budget])
            if result == -1 and self.seed is not None:  # Redis restarted empty: reload this account once
                user, key_used = await self.seed(user_id, key_id)
                if user is None:
                    return False
                log.warning("ledger account of user %s was missing in Redis; reloaded from the database", user_id)
                await self.load({user_id: user}, {key_id: key_used})
                result = await self._reserve(keys=keys, args=[amount, budget])
            return result == 1

    async def settle(self, user_id: int, key_id: int, key_budget: int | None, reserved: int,
                     cost: int) -> Charge:
        budget = "" if key_budget is None else str(key_budget)
        amount = int(await self._settle(keys=[self._u(user_id), self._k(key_id)],
                                        args=[reserved, cost, budget]))
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
        return None
