"""Request logs and aggregated usage, read from the usage table.

The recorder writes in batches, so both endpoints flush it first: a request that just finished
is in the answer. Aggregation runs in SQL and works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, Select, func, select

from relaygate.api.admin.auth import AdminRuntime, require_admin
from relaygate.api.admin.common import RESPONSES
from relaygate.api.admin.errors import bad_request
from relaygate.api.admin.schemas import DataList, LogOut, UsageRow
from relaygate.billing.money import format_money
from relaygate.runtime import Runtime
from relaygate.store import repos
from relaygate.store.models import UsageLog

router = APIRouter(prefix="/api", tags=["logs"], dependencies=[Depends(require_admin)], responses=RESPONSES)

MAX_LIMIT = 1000
_TIME_DOC = "ISO-8601 time or unix seconds"
IdQuery = Annotated[int | None, Query(ge=0, le=repos.INT32_MAX)]
TimeQuery = Annotated[str | None, Query(description=_TIME_DOC, max_length=64)]
ModelQuery = Annotated[str | None, Query(max_length=repos.MODEL_MAX)]


def _time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return repos.parse_timestamp(value)
    except ValueError as exc:
        raise bad_request(f"query parameter '{name}': {exc}", name) from exc


def _filters(user_id: int | None, key_id: int | None, model: str | None, since: str | None,
             until: str | None, channel_id: int | None = None) -> list[ColumnElement[bool]]:
    """`since` is inclusive and `until` exclusive, so consecutive windows never overlap."""
    conds: list[ColumnElement[bool]] = []
    if user_id is not None:
        conds.append(UsageLog.user_id == user_id)
    if key_id is not None:
        conds.append(UsageLog.key_id == key_id)
    if channel_id is not None:
        conds.append(UsageLog.channel_id == channel_id)
    if model:
        try:
            repos.check_text(model)
        except ValueError as exc:
            raise bad_request(f"query parameter 'model' {exc}", "model") from exc
        conds.append(UsageLog.model == model)
    start, end = _time(since, "since"), _time(until, "until")
    if start is not None:
        conds.append(UsageLog.created_at >= start)
    if end is not None:
        conds.append(UsageLog.created_at < end)
    return conds


async def flush_usage(rt: Runtime) -> None:
    """Write this process's queued records; other worker processes flush on their own timer, so
    with several workers wait one flush interval for their just-finished requests to land too."""
    await rt.recorder.flush()
    if rt.settings.workers > 1:
        await asyncio.sleep(min(2.0, rt.settings.usage_flush_interval_s + 0.1))


def log_out(row: UsageLog) -> LogOut:
    return LogOut(
        id=row.id, request_id=row.request_id, created_at=repos.as_utc(row.created_at),
        user_id=row.user_id, key_id=row.key_id, channel_id=row.channel_id, endpoint=row.endpoint,
        model=row.model, upstream_model=row.upstream_model, stream=row.stream,
        prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens,
        cache_read_tokens=row.cache_read_tokens, cache_write_tokens=row.cache_write_tokens,
        cost=format_money(row.cost) or "0.00", status_code=row.status_code, outcome=row.outcome,
        usage_source=row.usage_source, latency_ms=row.latency_ms, ttft_ms=row.ttft_ms, tries=row.tries,
        error=row.error,
    )


@router.get("/logs", response_model=DataList[LogOut])
async def list_logs(
    rt: AdminRuntime, user_id: IdQuery = None, key_id: IdQuery = None, channel_id: IdQuery = None,
    model: ModelQuery = None, since: TimeQuery = None, until: TimeQuery = None,
    limit: Annotated[int, Query(ge=1, description=f"default 100, at most {MAX_LIMIT}")] = 100,
) -> DataList[LogOut]:
    """Newest first."""
    conds = _filters(user_id, key_id, model, since, until, channel_id)
    await flush_usage(rt)
    query = (select(UsageLog).where(*conds)
             .order_by(UsageLog.created_at.desc(), UsageLog.id.desc()).limit(min(limit, MAX_LIMIT)))
    async with rt.sessions() as s:
        rows = (await s.scalars(query)).all()
    return DataList[LogOut](data=[log_out(r) for r in rows])


def _day_expression(dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a row as 'YYYY-MM-DD', spelled for each database."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", UsageLog.created_at), "YYYY-MM-DD")
    if dialect in ("mysql", "mariadb"):
        return func.date_format(UsageLog.created_at, "%Y-%m-%d")
    return func.date(UsageLog.created_at)  # SQLite: stored as 'YYYY-MM-DD HH:MM:SS' in UTC


def _usage_query(group_by: str, dialect: str, conds: list[ColumnElement[bool]]) -> Select[Any]:
    key: ColumnElement[Any] = {
        "day": lambda: _day_expression(dialect),
        "model": lambda: UsageLog.model,
        "user": lambda: UsageLog.user_id,
    }[group_by]().label("k")
    return (select(key, func.count(UsageLog.id), func.coalesce(func.sum(UsageLog.prompt_tokens), 0),
                   func.coalesce(func.sum(UsageLog.completion_tokens), 0),
                   func.coalesce(func.sum(UsageLog.cost), 0))
            .where(*conds).group_by(key).order_by(key))


@router.get("/usage", response_model=None, responses={200: {"model": DataList[UsageRow]}})
async def usage(
    rt: AdminRuntime,
    group_by: Annotated[Literal["day", "model", "user"], Query()] = "day",
    user_id: IdQuery = None, key_id: IdQuery = None, model: ModelQuery = None,
    since: TimeQuery = None, until: TimeQuery = None,
) -> JSONResponse:
    """Requests, tokens and cost summed per UTC day, per model or per user."""
    conds = _filters(user_id, key_id, model, since, until)
    await flush_usage(rt)
    label = "user_id" if group_by == "user" else group_by
    async with rt.sessions() as s:
        rows = (await s.execute(_usage_query(group_by, rt.engine.dialect.name, conds))).all()
    data = []
    for k, requests, prompt, completion, cost in rows:
        if group_by == "day" and k is not None and not isinstance(k, str):
            k = k.isoformat()
        data.append({label: k, "requests": int(requests), "prompt_tokens": int(prompt),
                     "completion_tokens": int(completion), "cost": format_money(int(cost))})
    return JSONResponse({"data": data})
