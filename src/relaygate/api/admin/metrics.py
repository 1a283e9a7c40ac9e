"""GET /metrics: Prometheus text, for scrapers configured with the admin key as bearer token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from relaygate.api.admin.auth import AdminRuntime, require_admin
from relaygate.api.admin.errors import ApiError
from relaygate.relay.metrics import collect, process_sample, render

router = APIRouter(tags=["metrics"], dependencies=[Depends(require_admin)])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(rt: AdminRuntime) -> PlainTextResponse:
    """Request counts and histograms summed over every worker process; process gauges per worker."""
    if rt.relay is None:
        raise ApiError(503, "the relay is not running", "service_unavailable")
    states = await asyncio.to_thread(collect, rt.relay.metrics_dir, rt.relay.metrics, process_sample())
    return PlainTextResponse(render(states), media_type="text/plain; version=0.0.4")
