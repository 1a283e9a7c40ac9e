"""``/v1/fine_tuning/jobs``: create, list, retrieve, cancel, events, checkpoints (pause/resume too).

A job runs on the channel that holds its training file (the caller's own file; a foreign or unknown id
gets the same 400 as OpenAI's "invalid training_file"), and that channel must serve the base model for
the caller's group. The job id is recorded with its channel and owner like a file; only the owner sees it.

Creating a job is charged the base model's ``per_request`` price (a flat fee per job; training tokens are
the upstream's bill, not relayed) and recorded as ``fine_tuning.jobs``.

When the gateway sees a job succeed (retrieve or list), it records the fine-tuned model for the owner
with the channel that trained it, reloads the state, and the model becomes routable for the owner's
group on that channel, priced like its base model unless the operator prices it
(:meth:`relaygate.state.snapshot.Snapshot.add_fine_tuned`); result files become the owner's files.
Listing takes membership and order from the gateway's records and the current state from one upstream
list call per channel involved, falling back to the last copy seen.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from relaygate.api.errors import GatewayError, bad_request
from relaygate.api.http import JSON_CT, Receive, Scope, Send, read_body, send_bytes
from relaygate.providers.base import UpstreamError
from relaygate.relay import pipeline
from relaygate.relay.auth import check_model_allowed
from relaygate.relay.context import new_request_id
from relaygate.relay.endpoints.files import (
    answer,
    call_upstream,
    limit_of,
    method_not_allowed,
    owned_channel,
    query,
)
from relaygate.relay.objects import FILE, JOB, MODEL, Objects, objects_of
from relaygate.relay.ratelimit import with_headers
from relaygate.relay.validate import parse_json_object
from relaygate.state.snapshot import ChannelInfo, UserInfo

if TYPE_CHECKING:
    import aiohttp

    from relaygate.relay.service import Relay

PREFIX = "/v1/fine_tuning/jobs/"
ACTIONS = {"": "GET", "cancel": "POST", "events": "GET", "checkpoints": "GET", "pause": "POST", "resume": "POST"}
WHAT = "fine-tuning job"


async def handle_jobs(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    rid = (b"x-request-id", new_request_id().encode())
    try:
        if scope["method"] not in ("GET", "POST"):
            raise method_not_allowed(scope, "GET or POST")
        key, user = relay.authenticate(scope, relay.rt.snapshot)
        if scope["method"] == "GET":
            await send_bytes(send, 200, await list_jobs(relay, user, scope), [JSON_CT, rid])
            return
    except GatewayError as err:
        await relay.send_error(send, err, rid)
        return
    await create(relay, scope, receive, send, pipeline.CallContext(new_request_id(), "fine_tuning.jobs",
                                                                   time.perf_counter(), key=key, user=user))


async def create(relay: Relay, scope: Scope, receive: Receive, send: Send, ctx: pipeline.CallContext) -> None:
    rt, rid = relay.rt, (b"x-request-id", ctx.request_id.encode())
    assert ctx.key is not None and ctx.user is not None
    try:
        body = parse_json_object(await read_body(scope, receive, rt.settings.max_body_bytes))
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise bad_request("you must provide a model parameter", "model", "missing_required_parameter")
        ctx.model = model
        check_model_allowed(ctx.key, model)
        ch = await _file_channel(relay, ctx.user, body, "training_file", None)
        if body.get("validation_file") is not None:
            await _file_channel(relay, ctx.user, body, "validation_file", ch)
        if ch not in rt.snapshot.routes.get((ctx.user.group, model), ()):
            raise bad_request(f"The model `{model}` cannot be fine-tuned on the channel that holds the training "
                              "file.", "model", "model_not_available")
        price = ctx.price = rt.snapshot.prices.get(model)
        if price is None and not rt.settings.allow_unpriced:
            raise GatewayError(403, f"The model `{model}` has no price set; ask the operator to price it.",
                               "permission_error", "model_not_priced", "model")
        await pipeline.reserve(relay, ctx, price.per_request if price else 0)
    except GatewayError as err:
        if ctx.rate is not None:  # counted, then refused by the quota
            await rt.limiter.release(ctx.rate)
        ctx.refuse(err)
        await relay.send_error(send, err, rid)
        relay.record_unbilled(ctx)
        return
    if ctx.rate is not None:
        send = with_headers(send, ctx.rate.headers)
    created = False
    try:
        ctx.tries, ctx.channel_id = 1, ch.id
        ctx.upstream_model = upstream = ch.upstream_model(model)
        result = await call_upstream(relay, ch, "POST", "/fine_tuning/jobs", json_body={**body, "model": upstream})

        async def record(job: dict[str, Any]) -> None:  # before the caller can ask about the id
            nonlocal created
            assert ctx.key is not None and ctx.user is not None
            if isinstance(job.get("id"), str):
                await objects_of(relay).add(JOB, job["id"], ctx.user.id, ctx.key.id, ch.id,
                                            {"object": job, "base_model": model})
                created = True
                ctx.unit_cost = price.per_request if price is not None else 0
                ctx.usage_source = "none"
                await relay.settle(ctx)  # charged and recorded before the caller sees the job

        await answer(relay, send, result, rid, record)
        if isinstance(result, UpstreamError):
            ctx.fail(result.status, "upstream_error", result.message)
    finally:
        ctx.unit_cost = price.per_request if price is not None and created else 0  # the flat fee per job
        ctx.usage_source = "none"
        await relay.finish(ctx)


async def _file_channel(relay: Relay, user: UserInfo, body: dict[str, Any], field: str,
                        same_as: ChannelInfo | None) -> ChannelInfo:
    file_id = body.get(field)
    if not isinstance(file_id, str) or not file_id:
        raise bad_request(f"you must provide a {field} parameter", field, "missing_required_parameter")
    owned = await objects_of(relay).owned_by(file_id, user.id, FILE)
    ch = relay.rt.snapshot.channels.get(owned.channel_id) if owned is not None else None
    if ch is None or (same_as is not None and ch.id != same_as.id):
        raise bad_request(f"invalid {field}: {file_id}", field, "invalid_file")
    return ch


# --- one job ---------------------------------------------------------------------------------


async def handle_job(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    rid = (b"x-request-id", new_request_id().encode())
    job_id, _, action = scope["path"][len(PREFIX):].partition("/")
    try:
        method = ACTIONS.get(action)
        if method is None or not job_id:
            raise GatewayError(404, f"Unknown endpoint: {scope['method']} {scope['path']}", code="unknown_url")
        if scope["method"] != method:
            raise method_not_allowed(scope, method)
        key, user = relay.authenticate(scope, relay.rt.snapshot)
        _owned, ch = await owned_channel(relay, user, job_id, JOB, WHAT)
    except GatewayError as err:
        await relay.send_error(send, err, rid)
        return
    path = f"/fine_tuning/jobs/{job_id}" + (f"/{action}" if action else "")
    params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    result = await call_upstream(relay, ch, method, path, params=params or None)

    async def seen(job: dict[str, Any]) -> None:  # a model the answer calls ready is routable when it arrives
        if action in ("", "cancel", "pause", "resume") and job.get("id") == job_id:
            await observe(relay, objects_of(relay), user, key.id, ch, job)

    await answer(relay, send, result, rid, seen)


async def observe(relay: Relay, objects: Objects, user: UserInfo, key_id: int | None, ch: ChannelInfo,
                  job: dict[str, Any]) -> None:
    """Keep the last copy of a job; on success make its model routable and its result files the owner's."""
    rows = {row.object_id: row for row in await objects.rows(user.id, JOB)} if job.get("status") == "succeeded" \
        else {}
    base = rows[job["id"]].data.get("base_model") if job["id"] in rows else job.get("model")
    await objects.save(job["id"], {"object": job, "base_model": base})
    model = job.get("fine_tuned_model")
    if job.get("status") != "succeeded" or not isinstance(model, str) or await objects.lookup(model) is not None:
        return
    if await objects.add(MODEL, model, user.id, key_id, ch.id, {"base_model": base, "job": job["id"]}):
        await relay.rt.state_changed()  # every process reloads its snapshot: the model is routable now
    for file_id in job.get("result_files") or ():
        if isinstance(file_id, str) and await objects.lookup(file_id) is None:
            result = await call_upstream(relay, ch, "GET", f"/files/{file_id}")
            data = await _json(result)
            await objects.add(FILE, file_id, user.id, key_id, ch.id, data or {"id": file_id, "object": "file"})


async def _json(result: aiohttp.ClientResponse | UpstreamError) -> dict[str, Any] | None:
    if isinstance(result, UpstreamError):
        return None
    try:
        data = orjson.loads(await result.read())
    except (orjson.JSONDecodeError, OSError, TimeoutError):
        return None
    finally:
        result.release()
    return data if isinstance(data, dict) else None


# --- listing ---------------------------------------------------------------------------------


async def list_jobs(relay: Relay, user: UserInfo, scope: Scope) -> bytes:
    params = query(scope)
    limit = limit_of(params, 20, 100)
    metadata = {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[") and k.endswith("]")}
    objects = objects_of(relay)
    rows = await objects.rows(user.id, JOB)
    channels = {row.channel_id for row in rows} & set(relay.rt.snapshot.channels)
    fresh: dict[str, dict[str, Any]] = {}

    async def current(channel_id: int) -> dict[str, Any] | None:
        ch = relay.rt.snapshot.channels[channel_id]
        return await _json(await call_upstream(relay, ch, "GET", "/fine_tuning/jobs", params={"limit": "100"}))

    for data in await asyncio.gather(*(current(cid) for cid in sorted(channels))):
        for job in (data or {}).get("data") or ():
            if isinstance(job, dict) and isinstance(job.get("id"), str):
                fresh[job["id"]] = job
    jobs = []
    for row in rows:
        job = fresh.get(row.object_id) or row.data.get("object")
        if not isinstance(job, dict):
            continue
        if row.object_id in fresh and fresh[row.object_id] != row.data.get("object"):
            ch = relay.rt.snapshot.channels.get(row.channel_id)
            if ch is not None:
                await observe(relay, objects, user, None, ch, job)
        if all((job.get("metadata") or {}).get(k) == v for k, v in metadata.items()):
            jobs.append(job)
    after = params.get("after")
    if after:
        ids = [j["id"] for j in jobs]
        jobs = jobs[ids.index(after) + 1:] if after in ids else []
    return orjson.dumps({"object": "list", "data": jobs[:limit], "has_more": len(jobs) > limit})

