"""Reserve-then-settle of quota: the runtime truth for balances between database flushes.

The database holds the durable balance; the ledger holds it plus charges not yet flushed and
the amounts reserved by requests in flight. A reservation is the worst-case cost of a request,
so an account can never end below zero: a request that cannot be covered is refused before it
reaches an upstream, and a settlement never charges more than the account still holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class Account:
    balance: int = 0  # users: spendable money; keys: unused
    used: int = 0
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class Charge:
    """What a settlement actually took; `capped` if the account could not cover the full cost."""

    amount: int
    capped: bool


class Ledger(Protocol):
    async def load(self, users: dict[int, tuple[int, int]], keys: dict[int, int]) -> None: ...
    async def reserve(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> bool: ...
    async def settle(self, user_id: int, key_id: int, key_budget: int | None, reserved: int,
                     cost: int) -> Charge: ...
    async def set_balance(self, user_id: int, balance: int) -> int: ...
    async def add_balance(self, user_id: int, delta: int, floor: int | None = 0) -> int | None: ...
    async def add_user(self, user_id: int, balance: int, used: int = 0) -> None: ...
    async def add_key(self, key_id: int, used: int = 0) -> None: ...
    async def user(self, user_id: int) -> Account: ...
    async def key(self, key_id: int) -> Account: ...
    async def close(self) -> None: ...


class LocalLedger:
    """Single-process ledger: every operation runs without awaiting, so it is atomic on the loop."""

    def __init__(self) -> None:
        self.users: dict[int, Account] = {}
        self.keys: dict[int, Account] = {}

    async def load(self, users: dict[int, tuple[int, int]], keys: dict[int, int]) -> None:
        self.users = {uid: Account(balance=b, used=u) for uid, (b, u) in users.items()}
        self.keys = {kid: Account(used=u) for kid, u in keys.items()}

    async def reserve(self, user_id: int, key_id: int, key_budget: int | None, amount: int) -> bool:
        user = self.users.get(user_id)
        key = self.keys.setdefault(key_id, Account())
        if user is None or user.balance - user.reserved < amount:
            return False
        if key_budget is not None and key_budget - key.used - key.reserved < amount:
            return False
        user.reserved += amount
        key.reserved += amount
        return True

    async def settle(self, user_id: int, key_id: int, key_budget: int | None, reserved: int,
                     cost: int) -> Charge:
        user = self.users.setdefault(user_id, Account())
        key = self.keys.setdefault(key_id, Account())
        user.reserved -= reserved
        key.reserved -= reserved
        limit = max(0, user.balance - user.reserved)
        if key_budget is not None:
            limit = min(limit, max(0, key_budget - key.used - key.reserved))
        amount = min(cost, limit)
        user.balance -= amount
        user.used += amount
        key.used += amount
        return Charge(amount=amount, capped=amount < cost)

    async def set_balance(self, user_id: int, balance: int) -> int:
        user = self.users.setdefault(user_id, Account())
        delta = balance - user.balance
        user.balance = balance
        return delta

    async def add_balance(self, user_id: int, delta: int, floor: int | None = 0) -> int | None:
        """Top up (or correct) atomically; None, and nothing changed, if it would end below floor."""
        user = self.users.setdefault(user_id, Account())
        if floor is not None and user.balance + delta < floor:
            return None
        user.balance += delta
        return user.balance

    async def add_user(self, user_id: int, balance: int, used: int = 0) -> None:
        self.users[user_id] = Account(balance=balance, used=used)

    async def add_key(self, key_id: int, used: int = 0) -> None:
        self.keys[key_id] = Account(used=used)

    async def user(self, user_id: int) -> Account:
        return self.users.get(user_id, Account())

    async def key(self, key_id: int) -> Account:
        return self.keys.get(key_id, Account())

    async def close(self) -> None:
        return None
