"""Channels: upstream endpoints with their keys. Keys are secrets and leave only masked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import select

from relaygate.api.admin.auth import AdminRuntime, require_admin
from relaygate.api.admin.common import RESPONSES, fetch_or_404
from relaygate.api.admin.errors import ApiError, bad_request
from relaygate.api.admin.schemas import (
    ChannelCreate,
    ChannelHealthOut,
    ChannelOut,
    ChannelPatch,
    ChannelTestResult,
    DataList,
)
from relaygate.runtime import Runtime
from relaygate.store import repos
from relaygate.store.models import Channel

router = APIRouter(prefix="/api/channels", tags=["channels"], dependencies=[Depends(require_admin)],
                   responses=RESPONSES)


def _health(rt: Runtime, channel_id: int) -> ChannelHealthOut:
    """Failure counts live in the relay's memory (no I/O on the hot path); none without a relay."""
    health = getattr(rt.relay, "health", None)
    if health is None:
        return ChannelHealthOut()
    return ChannelHealthOut(consecutive_failures=health.failures.get(channel_id, 0),
                            successes=health.successes.get(channel_id, 0))


def channel_out(rt: Runtime, ch: Channel) -> ChannelOut:
    keys = list(ch.keys or [])
    return ChannelOut(
        id=ch.id, name=ch.name, type=ch.type, base_url=ch.base_url,
        keys=[repos.mask_secret(k) for k in keys], key_count=len(keys),
        models=list(ch.models or []), model_mapping=dict(ch.model_mapping or {}), group=ch.group,
        priority=ch.priority, weight=ch.weight, config=repos.mask_config(dict(ch.config or {})),
        timeout_s=ch.timeout_s, status=ch.status, enabled=ch.status == "enabled",
        disabled_reason=ch.disabled_reason, health=_health(rt, ch.id), created_at=repos.as_utc(ch.created_at),
    )


def _status(enabled: bool | None, status: str | None) -> str | None:
    """`enabled` and `status` are two spellings of the operator switch; they must agree."""
    if enabled is not None and status is not None and (status == "enabled") != enabled:
        raise bad_request("'enabled' and 'status' disagree", "status")
    if status is not None:
        return status
    if enabled is not None:
        return "enabled" if enabled else "disabled"
    return None


@router.post("", status_code=201, response_model=ChannelOut)
async def create_channel(body: ChannelCreate, rt: AdminRuntime) -> ChannelOut:
    status = _status(body.enabled if "enabled" in body.model_fields_set else None, body.status)
    base_url, models = repos.channel_preset_defaults(
        body.type, body.base_url, body.models if "models" in body.model_fields_set else None)
    if not base_url:
        raise bad_request(f"base_url is required: the channel type {body.type!r} has no default", "base_url")
    ch = Channel(
        name=body.name, type=body.type, base_url=base_url, keys=body.keys, models=models,
        model_mapping=body.model_mapping, group=body.group, priority=body.priority,
        weight=body.weight, config=repos.channel_config_defaults(body.type, body.config),
        timeout_s=body.timeout_s, status=status or "enabled", disabled_reason=None,
        created_at=repos.utcnow(),
    )
    async with rt.sessions() as s, s.begin():
        s.add(ch)
    await rt.state_changed()
    return channel_out(rt, ch)


@router.get("", response_model=DataList[ChannelOut])
async def list_channels(rt: AdminRuntime) -> DataList[ChannelOut]:
    async with rt.sessions() as s:
        rows = (await s.scalars(select(Channel).order_by(Channel.id))).all()
    return DataList[ChannelOut](data=[channel_out(rt, ch) for ch in rows])


@router.get("/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: int, rt: AdminRuntime) -> ChannelOut:
    async with rt.sessions() as s:
        return channel_out(rt, await fetch_or_404(s, Channel, channel_id, "channel"))


def _apply_patch(ch: Channel, changes: dict[str, Any]) -> None:
    status = _status(changes.pop("enabled", None), changes.pop("status", None))
    if "keys" in changes:
        changes["keys"] = repos.restore_masked_keys(changes["keys"], list(ch.keys or []))
    if "config" in changes:
        changes["config"] = repos.restore_masked_config(changes["config"], dict(ch.config or {}))
    for name, value in changes.items():
        setattr(ch, name, value)
    ch.config = repos.channel_config_defaults(ch.type, ch.config)
    if status is not None and status != ch.status:
        ch.status = status
        if status == "enabled":
            ch.disabled_reason = None


@router.patch("/{channel_id}", response_model=ChannelOut)
async def update_channel(channel_id: int, body: ChannelPatch, rt: AdminRuntime) -> ChannelOut:
    async with rt.sessions() as s, s.begin():
        ch = await fetch_or_404(s, Channel, channel_id, "channel")
        _apply_patch(ch, body.changes())
    await rt.state_changed()
    return channel_out(rt, ch)


@router.delete("/{channel_id}", status_code=204, response_class=Response)
async def delete_channel(channel_id: int, rt: AdminRuntime) -> Response:
    async with rt.sessions() as s, s.begin():
        await s.delete(await fetch_or_404(s, Channel, channel_id, "channel"))
    await rt.state_changed()
    return Response(status_code=204)


@router.post("/{channel_id}/test", response_model=None,
             responses={200: {"model": ChannelTestResult}, 503: {"description": "no relay here"}})
async def test_channel(
    channel_id: int, rt: AdminRuntime,
    model: Annotated[str | None, Query(max_length=repos.MODEL_MAX,
                                       description="model to try; default: the channel's first")] = None,
) -> JSONResponse:
    """Sends one small request through the relay's own code path, so it tests what users get."""
    async with rt.sessions() as s:
        await fetch_or_404(s, Channel, channel_id, "channel")
    if rt.relay is None:
        raise ApiError(503, "the relay is not running in this process", code="relay_unavailable")
    try:
        result = await rt.relay.test_channel(channel_id, model=model or None)
    except LookupError as exc:
        raise ApiError(404, f"channel {channel_id} is not loaded: {exc}", code="channel_not_found") from exc
    return JSONResponse(jsonable_encoder(dict(result)))
