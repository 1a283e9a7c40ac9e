"""Users: who pays. Balance and spend are shown live from the ledger, which runs ahead of the
database by the charges the usage recorder has not flushed yet."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import delete, select, update

from relaygate.api.admin.auth import AdminRuntime, require_admin
from relaygate.api.admin.common import RESPONSES, fetch_or_404
from relaygate.api.admin.errors import bad_request
from relaygate.api.admin.schemas import DataList, UserCreate, UserOut, UserPatch
from relaygate.billing.ledger import Account
from relaygate.billing.money import format_money
from relaygate.runtime import Runtime
from relaygate.store import repos
from relaygate.store.models import ApiKey, User

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[Depends(require_admin)],
                   responses=RESPONSES)


async def live_account(rt: Runtime, user: User) -> tuple[int, int]:
    """(balance, used) from the ledger; the row's values if the ledger has never seen the user
    (an empty account there would otherwise read as a zero balance)."""
    acct = await rt.ledger.user(user.id)
    if acct == Account():
        return user.balance, user.used
    return acct.balance, max(acct.used, user.used)


async def user_out(rt: Runtime, user: User) -> UserOut:
    balance, used = await live_account(rt, user)
    return UserOut(id=user.id, name=user.name, group=user.group, enabled=user.enabled,
                   balance=format_money(balance) or "0.00", used=format_money(used) or "0.00",
                   rpm_limit=user.rpm_limit, tpm_limit=user.tpm_limit, created_at=repos.as_utc(user.created_at))


@router.post("", status_code=201, response_model=UserOut)
async def create_user(body: UserCreate, rt: AdminRuntime) -> UserOut:
    user = User(name=body.name, group=body.group, balance=body.balance, used=0, enabled=body.enabled,
                rpm_limit=body.rpm_limit, tpm_limit=body.tpm_limit, created_at=repos.utcnow())
    async with rt.sessions() as s, s.begin():
        s.add(user)
    await rt.ledger.add_user(user.id, body.balance)
    await rt.state_changed()
    return await user_out(rt, user)


@router.get("", response_model=DataList[UserOut])
async def list_users(rt: AdminRuntime) -> DataList[UserOut]:
    async with rt.sessions() as s:
        rows = (await s.scalars(select(User).order_by(User.id))).all()
    return DataList[UserOut](data=[await user_out(rt, u) for u in rows])


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: int, rt: AdminRuntime) -> UserOut:
    async with rt.sessions() as s:
        user = await fetch_or_404(s, User, user_id, "user")
    return await user_out(rt, user)


async def _apply_balance(rt: Runtime, user: User, body: UserPatch) -> int:
    """Change the ledger atomically and return the delta the row must get (0: no change)."""
    if body.balance is None and body.add_balance is None:
        return 0
    await _seed_ledger(rt, user)
    if body.balance is not None:
        return await rt.ledger.set_balance(user.id, body.balance)
    assert body.add_balance is not None
    if await rt.ledger.add_balance(user.id, body.add_balance, floor=0) is None:
        current, _ = await live_account(rt, user)
        raise bad_request(f"add_balance would take the balance below zero (it is {format_money(current)})",
                          "add_balance", code="balance_below_zero")
    return body.add_balance


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(user_id: int, body: UserPatch, rt: AdminRuntime) -> UserOut:
    """A balance change goes through the ledger first and reaches the row as a delta, so charges
    still waiting to be flushed are neither lost nor counted twice."""
    delta = 0
    async with rt.sessions() as s:
        try:
            async with s.begin():
                user = await fetch_or_404(s, User, user_id, "user")
                for name in ("name", "group", "enabled", "rpm_limit", "tpm_limit"):
                    if name in body.model_fields_set:
                        setattr(user, name, getattr(body, name))
                delta = await _apply_balance(rt, user, body)
                if delta:
                    await s.execute(update(User).where(User.id == user_id)
                                    .values(balance=User.balance + delta)
                                    .execution_options(synchronize_session=False))
        except BaseException:
            if delta:  # the row did not change: undo the ledger's side, atomically
                await rt.ledger.add_balance(user_id, -delta, floor=None)
            raise
        if delta:
            await s.refresh(user)
    await rt.state_changed()
    return await user_out(rt, user)


async def _seed_ledger(rt: Runtime, user: User) -> None:
    """A user the ledger has never seen would read as balance 0 and turn `set_balance` into a
    delta of the whole new balance; give the ledger the row's values first."""
    if await rt.ledger.user(user.id) == Account():
        await rt.ledger.add_user(user.id, user.balance, user.used)


@router.delete("/{user_id}", status_code=204, response_class=Response)
async def delete_user(user_id: int, rt: AdminRuntime) -> Response:
    """Deletes the user's keys too; usage logs stay for the accounts."""
    async with rt.sessions() as s, s.begin():
        user = await fetch_or_404(s, User, user_id, "user")
        await s.execute(delete(ApiKey).where(ApiKey.user_id == user_id))
        await s.delete(user)
    await rt.state_changed()
    return Response(status_code=204)
