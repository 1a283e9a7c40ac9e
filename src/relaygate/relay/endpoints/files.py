"""``/v1/files``: upload, list, retrieve, delete, content; each file lives on one upstream channel.

An upload goes to a channel that stores files in the caller's group: the channels whose config says
``"files": true`` when there are any, else every ``openai`` channel; best tier first, weighted inside a
tier, with failover. A ``model`` form field (a gateway extension, e.g. ``extra_body={"model": ...}`` in
the SDK; removed before the upstream sees the form) keeps the choice to the channels serving that model,
so that a training file lands where the model can be fine-tuned. The upload is spooled as it arrives
(:mod:`relaygate.relay.multipart`) and re-emitted untouched but for that field. The id the upstream
gives back is recorded with its channel and owner (:mod:`relaygate.relay.objects`): later calls go to
that channel, and only for the owner; anyone else gets the 404 of an id that does not exist.

Listing answers from the gateway's own records: the file object as the upstream described it at upload
(files do not change afterwards; expired ones are left out), so listing costs no upstream call and never
shows another user's files. Retrieve, delete and content go to the upstream. Uploads are recorded in the
usage log (endpoint ``files``, no cost); reads are not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import aiohttp
import orjson

from relaygate.api.errors import GatewayError, bad_request
from relaygate.api.http import JSON_CT, Receive, Scope, Send, send_bytes
from relaygate.providers.base import UpstreamError, UpstreamFailure
from relaygate.relay import pipeline, piping
from relaygate.relay.auth import check_model_allowed
from relaygate.relay.context import RequestContext, new_request_id
from relaygate.relay.multipart import read_form
from relaygate.relay.objects import FILE, Owned, objects_of
from relaygate.state.snapshot import ChannelInfo, KeyInfo, Snapshot, UserInfo

if TYPE_CHECKING:
    from relaygate.relay.service import Relay

PREFIX = "/v1/files/"
MAX_LIST = 10_000


def file_channels(snap: Snapshot, user: UserInfo, model: str | None) -> tuple[ChannelInfo, ...]:
    """Where this user's uploads may go, best first (see the module notes)."""
    pool = [c for c in snap.channels.values() if user.group in c.groups and pipeline.openai_like(c.type)
            and c.config.get("files") is not False]
    marked = [c for c in pool if c.config.get("files") is True]
    pool = marked or [c for c in pool if c.type == "openai"]
    if model is not None:
        serving = {c.id for c in snap.routes.get((user.group, model), ())}
        pool = [c for c in pool if c.id in serving]
    return tuple(sorted(pool, key=lambda c: -c.priority))


def query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def not_found(what: str, object_id: str) -> GatewayError:
    return GatewayError(404, f"No such {what}: {object_id}", "invalid_request_error", None, "id")


def method_not_allowed(scope: Scope, allowed: str) -> GatewayError:
    return GatewayError(405, f"{scope['method']} is not allowed on {scope['path']}; use {allowed}.",
                        code="method_not_allowed")


def limit_of(params: dict[str, str], default: int, high: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= high:  # "²".isdigit(), int() refuses it
        raise bad_request(f"'limit' must be an integer between 1 and {high}.", "limit", "invalid_value")
    return int(raw)


async def call_upstream(relay: Relay, ch: ChannelInfo, method: str, path: str, params: Any = None,
                        json_body: Any = None, stream: bool = False) -> aiohttp.ClientResponse | UpstreamError:
    """One call about an object on its channel (no failover: the object lives there)."""
    url, headers = pipeline.openai_target(ch, ch.next_key(), path)
    data = None
    if json_body is not None:
        data, headers = orjson.dumps(json_body), {**headers, "Content-Type": "application/json"}
    ctx = RequestContext(new_request_id(), "objects", time.perf_counter())
    return await pipeline.open_upstream(relay, ctx, ch, method, url, headers, data, stream, params)


async def answer(relay: Relay, send: Send, result: aiohttp.ClientResponse | UpstreamError,
                 rid: tuple[bytes, bytes], before: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
                 ) -> dict[str, Any] | None:
    """Pass an upstream JSON answer (or its error) to the caller; returns the answer's object.

    ``before`` sees the object before the caller does (what the answer makes true must be true by then)."""
    if isinstance(result, UpstreamError):
        await relay.send_error(send, GatewayError(result.status, result.message, result.type, result.code,
                                                  getattr(result, "param", None)), rid)
        return None
    try:
        raw = await result.read()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        err = piping.broken(exc)
        await relay.send_error(send, GatewayError(err.status, err.message, err.type, err.code), rid)
        return None
    finally:
        result.release()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else None
    if data is not None and before is not None:
        await before(data)
    await send_bytes(send, 200, raw, [JSON_CT, rid])
    return data


async def owned_channel(relay: Relay, user: UserInfo, object_id: str, kind: str,
                        what: str) -> tuple[Owned, ChannelInfo]:
    owned = await objects_of(relay).owned_by(object_id, user.id, kind)
    ch = relay.rt.snapshot.channels.get(owned.channel_id) if owned is not None else None
    if owned is None or ch is None:
        raise not_found(what, object_id)
    return owned, ch


# --- /v1/files -------------------------------------------------------------------------------


async def handle_files(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    rid = (b"x-request-id", new_request_id().encode())
    try:
        if scope["method"] not in ("GET", "POST"):
            raise method_not_allowed(scope, "GET or POST")
        key, user = relay.authenticate(scope, relay.rt.snapshot)
        if scope["method"] == "GET":
            await send_bytes(send, 200, await list_files(relay, user, query(scope)), [JSON_CT, rid])
            return
    except GatewayError as err:
        await relay.send_error(send, err, rid)
        return
    await upload(relay, key, user, scope, receive, send)


async def list_files(relay: Relay, user: UserInfo, params: dict[str, str]) -> bytes:
    limit = limit_of(params, MAX_LIST, MAX_LIST)
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("'order' must be 'asc' or 'desc'.", "order", "invalid_value")
    now = time.time()
    files = [f for f in (row.data for row in await objects_of(relay).rows(user.id, FILE))
             if f.get("id") and not (isinstance(f.get("expires_at"), int) and f["expires_at"] < now)]
    if params.get("purpose"):
        files = [f for f in files if f.get("purpose") == params["purpose"]]
    if order == "asc":  # the records come newest first, in upload order
        files.reverse()
    after = params.get("after")
    if after:
        ids = [f["id"] for f in files]
        files = files[ids.index(after) + 1:] if after in ids else []
    page = files[:limit]
    return orjson.dumps({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                         "last_id": page[-1]["id"] if page else None, "has_more": len(files) > limit})


async def upload(relay: Relay, key: KeyInfo, user: UserInfo, scope: Scope, receive: Receive, send: Send) -> None:
    settings = relay.rt.settings
    ctx = RequestContext(new_request_id(), "files", time.perf_counter(), key=key, user=user)
    rid = (b"x-request-id", ctx.request_id.encode())
    form = None
    try:
        form = await read_form(scope, receive, settings.max_upload_bytes, settings.data_dir / "tmp")
        if not form.files("file"):
            raise bad_request("you must provide a file", "file", "missing_required_parameter")
        if not form.get("purpose"):
            raise bad_request("you must provide a purpose", "purpose", "missing_required_parameter")
        model = form.get("model")
        form.remove("model")
        if model is not None:
            check_model_allowed(key, model)
            if not relay.rt.snapshot.routes.get((user.group, model)):  # the caller's mistake, not a 503
                raise GatewayError(404, f"The model `{model}` does not exist or you do not have access to it.",
                                   code="model_not_found", param="model")
        channels = file_channels(relay.rt.snapshot, user, model)
        if not channels:
            raise GatewayError(503, "No channel available to you stores files" + (
                f" for the model `{model}`." if model else "."), "service_unavailable", "no_available_channel")
    except GatewayError as err:
        if form is not None:
            form.close()
        ctx.fail(err.status, "rejected", err.message)
        await relay.send_error(send, err, rid)
        relay.record_unbilled(ctx)
        return
    created: dict[str, Any] = {}

    async def attempt(ch: ChannelInfo) -> UpstreamError | None:
        assert form is not None
        url, headers = pipeline.openai_target(ch, ch.next_key(), "/files")
        headers.update({"Content-Type": form.content_type, "Content-Length": str(form.size())})
        resp = await pipeline.open_upstream(relay, ctx, ch, "POST", url, headers, form.body())
        if isinstance(resp, UpstreamError):
            return resp
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return piping.broken(exc)
        finally:
            resp.release()
            ctx.upstream_done()
        try:
            data = pipeline.json_answer(raw, "file object")
        except UpstreamFailure as exc:
            return exc.error
        if not isinstance(data.get("id"), str):
            return pipeline.malformed("file object").error
        await objects_of(relay).add(FILE, data["id"], user.id, key.id, ch.id, data)
        created.update(data)
        await relay.settle(ctx)
        await send_bytes(send, 200, raw, [JSON_CT, rid, ctx.overhead_header()])
        return None

    try:
        err = await pipeline.failover(relay, ctx, channels, attempt)
        if err is not None:
            await pipeline.send_failure(relay, ctx, send, err, rid)
    finally:
        form.close()
        await relay.finish(ctx)


# --- /v1/files/{id}[/content] ----------------------------------------------------------------


async def handle_file(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    rid = (b"x-request-id", new_request_id().encode())
    file_id, _, rest = scope["path"][len(PREFIX):].partition("/")
    try:
        if rest not in ("", "content") or not file_id:
            raise GatewayError(404, f"Unknown endpoint: {scope['method']} {scope['path']}", code="unknown_url")
        allowed = "GET" if rest else "GET or DELETE"
        if scope["method"] not in allowed.split(" or "):
            raise method_not_allowed(scope, allowed)
        _key, user = relay.authenticate(scope, relay.rt.snapshot)
        _owned, ch = await owned_channel(relay, user, file_id, FILE, "File object")
    except GatewayError as err:
        await relay.send_error(send, err, rid)
        return
    path = f"/files/{file_id}"
    if rest == "content":
        result = await call_upstream(relay, ch, "GET", path + "/content", stream=True)
        if isinstance(result, UpstreamError):
            await answer(relay, send, result, rid)
            return
        ctx = RequestContext(new_request_id(), "files.content", time.perf_counter())
        try:
            err = await piping.pipe(ctx, result, receive, send, rid, empty_ok=True)
            if err is not None:
                await relay.send_error(send, GatewayError(err.status, err.message, err.type, err.code), rid)
        finally:
            result.release()
        return
    result = await call_upstream(relay, ch, scope["method"], path)
    data = await answer(relay, send, result, rid)
    gone = isinstance(result, UpstreamError) and result.status == 404
    if gone or (scope["method"] == "DELETE" and data is not None and data.get("deleted") is True):
        await objects_of(relay).remove(file_id)
