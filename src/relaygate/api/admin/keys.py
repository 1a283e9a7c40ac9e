"""API keys: the secret is generated here, returned once, and stored only as its hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import delete, select

from relaygate.api.admin.auth import AdminRuntime, require_admin
from relaygate.api.admin.common import RESPONSES, fetch_or_404
from relaygate.api.admin.schemas import DataList, KeyCreate, KeyCreated, KeyOut, KeyPatch
from relaygate.billing.money import format_money
from relaygate.runtime import Runtime
from relaygate.state.snapshot import hash_key
from relaygate.store import repos
from relaygate.store.models import ApiKey, User

router = APIRouter(prefix="/api/keys", tags=["keys"], dependencies=[Depends(require_admin)],
                   responses=RESPONSES)


async def key_out(rt: Runtime, key: ApiKey) -> KeyOut:
    # The ledger runs ahead of the row (unflushed charges), and is empty for keys it never saw.
    used = max((await rt.ledger.key(key.id)).used, key.used)
    return KeyOut(
        id=key.id, user_id=key.user_id, name=key.name, key_hint=key.key_hint,
        models=list(key.models) if key.models is not None else None,
        budget=format_money(key.budget), used=format_money(used) or "0.00",
        expires_at=repos.as_utc(key.expires_at),
        allowed_ips=list(key.allowed_ips) if key.allowed_ips is not None else None,
        enabled=key.enabled, rpm_limit=key.rpm_limit, tpm_limit=key.tpm_limit,
        created_at=repos.as_utc(key.created_at),
    )


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, rt: AdminRuntime) -> KeyCreated:
    secret = repos.generate_api_key()
    key = ApiKey(
        user_id=body.user_id, name=body.name, key_hash=hash_key(secret), key_hint=repos.key_hint(secret),
        models=body.models, budget=body.budget, used=0, expires_at=body.expires_at,
        allowed_ips=body.allowed_ips, enabled=body.enabled, rpm_limit=body.rpm_limit, tpm_limit=body.tpm_limit,
        created_at=repos.utcnow(),
    )
    async with rt.sessions() as s, s.begin():
        await fetch_or_404(s, User, body.user_id, "user")
        s.add(key)
    await rt.ledger.add_key(key.id)
    await rt.state_changed()
    out = await key_out(rt, key)
    return KeyCreated(**out.model_dump(), key=secret)


@router.get("", response_model=DataList[KeyOut])
async def list_keys(
    rt: AdminRuntime,
    user_id: Annotated[int | None, Query(ge=1, le=repos.INT32_MAX, description="only this user's keys")] = None,
) -> DataList[KeyOut]:
    query = select(ApiKey).order_by(ApiKey.id)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    async with rt.sessions() as s:
        rows = (await s.scalars(query)).all()
    return DataList[KeyOut](data=[await key_out(rt, k) for k in rows])


@router.get("/{key_id}", response_model=KeyOut)
async def get_key(key_id: int, rt: AdminRuntime) -> KeyOut:
    async with rt.sessions() as s:
        key = await fetch_or_404(s, ApiKey, key_id, "key")
    return await key_out(rt, key)


@router.patch("/{key_id}", response_model=KeyOut)
async def update_key(key_id: int, body: KeyPatch, rt: AdminRuntime) -> KeyOut:
    async with rt.sessions() as s, s.begin():
        key = await fetch_or_404(s, ApiKey, key_id, "key")
        for name, value in body.changes().items():
            setattr(key, name, value)
    await rt.state_changed()
    return await key_out(rt, key)


@router.delete("/{key_id}", status_code=204, response_class=Response)
async def delete_key(key_id: int, rt: AdminRuntime) -> Response:
    async with rt.sessions() as s, s.begin():
        await fetch_or_404(s, ApiKey, key_id, "key")
        await s.execute(delete(ApiKey).where(ApiKey.id == key_id))
    await rt.state_changed()
    return Response(status_code=204)
