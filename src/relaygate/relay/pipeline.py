"""The pipeline of the non-chat endpoints, parametrised by an :class:`Endpoint` description.

authenticate -> read the body (JSON, or a multipart upload spooled as it arrives) -> the endpoint's
few checks -> model allowed -> routes -> price -> reserve the worst case -> failover over the
channels -> answer (whole JSON/text, an SSE stream, or binary streamed through) -> settle in
``finally``, exactly as chat does it. What differs per endpoint is in its description: how to read
the model and the fields that matter, the worst-case cost, the upstream path, how to read what was
consumed from the answer (usage, or units: images, characters, seconds), and how the body travels.

The generic steps live here once (:func:`failover`, :func:`open_upstream`, :func:`reserve`; streaming
an unread answer through is :func:`relaygate.relay.piping.pipe`); chat (``relay/chat.py``) has its own
copies of the first three, to be moved onto these.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from relaygate.api.errors import GatewayError, bad_request
from relaygate.api.http import Receive, Scope, Send, header, read_body, send_bytes
from relaygate.billing.pricing import cost_of
from relaygate.billing.tokens import count_tokens
from relaygate.providers.azure.adapter import DEFAULT_API_VERSION, AzureAdapter
from relaygate.providers.base import UpstreamError, UpstreamFailure, Usage, classify_status
from relaygate.providers.openai.adapter import OpenAIAdapter
from relaygate.providers.openai.errors import openai_error
from relaygate.providers.registry import adapter_for
from relaygate.relay.auth import check_model_allowed
from relaygate.relay.context import RequestContext, new_request_id
from relaygate.relay.h1client import H1Response
from relaygate.relay.multipart import Form, read_form
from relaygate.relay.piping import ResponseAborted, broken, pipe
from relaygate.relay.ratelimit import with_headers
from relaygate.relay.router import candidates
from relaygate.relay.upstream import no_answer, timeout_for
from relaygate.relay.upstream import send as send_upstream
from relaygate.relay.validate import parse_json_object
from relaygate.state.snapshot import ChannelInfo, PriceInfo

if TYPE_CHECKING:
    from relaygate.relay.service import Relay

Rid = tuple[bytes, bytes]


@dataclass(slots=True)
class ParamError(UpstreamError):
    """An upstream error that names the request field at fault (OpenAI's ``param``), kept for the caller."""

    param: str | None = None


@dataclass(slots=True)
class CallContext(RequestContext):
    """Chat's bookkeeping plus what unit-priced endpoints need: a cost fixed by the endpoint itself
    (images, seconds) and the local prompt count used when an upstream reports no usage."""

    unit_cost: int | None = None
    local_prompt: Callable[[], int] | None = None  # counts the prompt when the upstream reports no usage

    def cost(self) -> int:
        if self.unit_cost is not None:
            return self.unit_cost
        if self.usage is None and self.completion_text is not None:
            self.usage_source = "local"
            self.usage = Usage(prompt_tokens=self.local_prompt() if self.local_prompt is not None else 0,
                               completion_tokens=count_tokens(self.completion_text, self.model))
        return cost_of(self.price, self.usage) if self.usage is not None else 0


@dataclass(slots=True)
class Call:
    """One request to a non-chat endpoint, as read at the edge."""

    endpoint: Endpoint
    scope: Scope
    body: dict[str, Any] | None = None  # JSON requests
    raw: bytes = b""
    form: Form | None = None  # multipart requests (files spooled)
    model: str = ""
    stream: bool = False
    units: int = 0  # what the reservation counts: tokens, images, characters, seconds
    info: dict[str, Any] = field(default_factory=dict)  # endpoint facts read once (size, format, duration)

    def field(self, name: str) -> Any:
        if self.body is not None:
            return self.body.get(name)
        return self.form.get(name) if self.form is not None else None

    def upstream_body(self, upstream_model: str) -> tuple[bytes | AsyncIterator[bytes], dict[str, str]]:
        """The body for the channel, untouched but for the model name."""
        if self.form is not None:
            if self.form.get("model") != upstream_model:  # mapped, or a default the upstream must not guess
                self.form.set("model", upstream_model)
            return self.form.body(), {"Content-Type": self.form.content_type,
                                      "Content-Length": str(self.form.size())}
        assert self.body is not None
        body = self.body
        if body.get("model") != upstream_model:
            body = {**body, "model": upstream_model}
        if self.stream and self.info.get("force_usage"):  # the bill comes from the upstream's own count
            options = body.get("stream_options")
            body = {**body, "stream_options": {**(options if isinstance(options, dict) else {}),
                                               "include_usage": True}}
        return (self.raw if body is self.body else orjson.dumps(body)), {"Content-Type": "application/json"}

    def close(self) -> None:
        if self.form is not None:
            self.form.close()


Reader = Callable[[Call], None]
Reserver = Callable[[Call, "PriceInfo | None"], int]
Answerer = Callable[[Call, CallContext, bytes, str], bytes]
Custom = Callable[["Relay", CallContext, Call, ChannelInfo, Send, Rid], Awaitable["UpstreamError | None"]]
Streamer = Callable[["Relay", CallContext, Call, H1Response | aiohttp.ClientResponse, Receive, Send, Rid],
                   Awaitable["UpstreamError | None"]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str  # usage records and metrics, e.g. "embeddings"
    path: str  # upstream path after the channel's base URL, e.g. "/embeddings"
    read: Reader  # checks the few fields that matter; sets model, stream, units, info
    reserve: Reserver  # the worst-case cost
    answer: Answerer  # a whole answer -> bytes for the caller; sets ctx.usage / ctx.unit_cost
    multipart: bool = False
    json_too: bool = False  # a multipart endpoint that also takes JSON (images/edits)
    default_model: str | None = None
    free_without_price: bool = False  # moderations: unpriced means free, not refused
    streams: bool = False  # the answer is streamed through as it arrives (speech)
    sse: Streamer | None = None  # relays the answer to ``"stream": true`` (completions)
    piped: Callable[[Call, CallContext], None] | None = None  # bills an answer streamed through (else: reserved)
    custom: dict[str, Custom] = field(default_factory=dict)  # channel types with their own protocol


def openai_like(channel_type: str) -> bool:
    try:
        return isinstance(adapter_for(channel_type), OpenAIAdapter)
    except KeyError:
        return False


def openai_target(ch: ChannelInfo, key: str, path: str, upstream_model: str = "") -> tuple[str, dict[str, str]]:
    """URL and auth headers of an OpenAI-compatible (or Azure) channel for an API path."""
    if isinstance(adapter_for(ch.type), AzureAdapter):
        version = ch.config.get("api_version") or DEFAULT_API_VERSION
        deployment = upstream_model.replace(".", "") if ch.config.get("strip_dots") else upstream_model
        base = f"{ch.base_url}/openai/deployments/{deployment}" if upstream_model else f"{ch.base_url}/openai"
        return f"{base}{path}?api-version={version}", {"api-key": key}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    org = ch.config.get("organization")
    if org:
        headers["OpenAI-Organization"] = str(org)
    return ch.base_url + path, headers


# --- the pipeline ----------------------------------------------------------------------------


async def run(relay: Relay, ep: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    ctx = CallContext(new_request_id(), ep.name, time.perf_counter())
    rid = (b"x-request-id", ctx.request_id.encode())
    call: Call | None = None
    try:
        ctx.key, ctx.user = relay.authenticate(scope, relay.rt.snapshot)
        call = await read_call(relay, ep, scope, receive)
        ctx.model = call.model
        channels = await admit(relay, ctx, call)
    except GatewayError as err:
        if call is not None:
            call.close()
        if ctx.rate is not None:  # counted, then refused by the quota: a refused request does not count
            await relay.rt.limiter.release(ctx.rate)
        ctx.refuse(err)
        await relay.send_error(send, err, rid)
        relay.record_unbilled(ctx)
        return
    if ctx.rate is not None:
        send = with_headers(send, ctx.rate.headers)
    try:
        err = await failover(relay, ctx, channels,
                             lambda ch: attempt(relay, ctx, call, ch, receive, send, rid))
        if err is not None:
            await send_failure(relay, ctx, send, err, rid)
    finally:
        call.close()
        await relay.finish(ctx)


async def read_call(relay: Relay, ep: Endpoint, scope: Scope, receive: Receive) -> Call:
    settings = relay.rt.settings
    call = Call(ep, scope)
    ctype = (header(scope, b"content-type") or "").lower()
    if ep.multipart and not (ep.json_too and ctype.startswith("application/json")):
        call.form = await read_form(scope, receive, settings.max_upload_bytes, settings.data_dir / "tmp")
    else:
        call.raw = await read_body(scope, receive, settings.max_body_bytes)
        call.body = parse_json_object(call.raw)
    try:
        model = call.field("model")
        if model is None:  # only an absent model means the default: false, 0 or "" are mistakes
            model = ep.default_model
        if not isinstance(model, str) or not model.strip():
            raise bad_request("you must provide a model parameter", "model", "missing_required_parameter")
        if len(model) > 256:
            raise bad_request("model name is too long", "model")
        call.model = model
        ep.read(call)
    except BaseException:
        call.close()
        raise
    return call


async def admit(relay: Relay, ctx: CallContext, call: Call) -> tuple[ChannelInfo, ...]:
    """Everything that can refuse the request before money is reserved; returns its channels."""
    rt = relay.rt
    snap = rt.snapshot
    assert ctx.key is not None and ctx.user is not None
    check_model_allowed(ctx.key, call.model)
    routed = snap.routes.get((ctx.user.group, call.model))
    owner = snap.fine_tuned.get(call.model)
    if not routed or (owner is not None and owner != ctx.user.id):  # a fine-tuned model is its owner's
        raise GatewayError(404, f"The model `{call.model}` does not exist or you do not have access to it.",
                           code="model_not_found", param="model")
    ep = call.endpoint
    channels = tuple(c for c in routed if openai_like(c.type) or c.type in ep.custom)
    if not channels:
        raise bad_request(f"The model `{call.model}` is not served on /v1{ep.path} by this gateway.", "model",
                          "unsupported_model")
    price = ctx.price = snap.prices.get(call.model)
    if price is None and not rt.settings.allow_unpriced and not ep.free_without_price:
        raise GatewayError(403, f"The model `{call.model}` has no price set; ask the operator to price it.",
                           "permission_error", "model_not_priced", "model")
    await reserve(relay, ctx, ep.reserve(call, price))
    return channels


async def reserve(relay: Relay, ctx: RequestContext, amount: int) -> None:
    """Count the request against its rate limits, if any (the last check that can refuse it), then
    reserve the worst case; the caller uncounts it if the reservation refuses."""
    assert ctx.key is not None and ctx.user is not None
    if ctx.key.limits is not None:  # all an unlimited key pays for rate limits: this check
        ctx.rate = await relay.rt.limiter.admit(ctx.key.limits)
    if not await relay.rt.ledger.reserve(ctx.user.id, ctx.key.id, ctx.key.budget, amount):
        raise GatewayError(403, "You exceeded your current quota: the balance cannot cover this request "
                           f"(up to {amount / 1e6:.6f} {relay.rt.settings.currency}).",
                           "insufficient_quota", "insufficient_quota")
    ctx.reserved = amount


Attempt = Callable[[ChannelInfo], Awaitable["UpstreamError | None"]]


async def failover(relay: Relay, ctx: RequestContext, channels: tuple[ChannelInfo, ...],
                   attempt: Attempt) -> UpstreamError | None:
    """Try channels (best tier first) until one answers; the last error otherwise."""
    last: UpstreamError | None = None
    for ch in candidates(channels, relay.health.down):
        if ctx.tries >= relay.rt.settings.relay_max_tries:
            break
        ctx.tries += 1
        ctx.channel_id = ch.id
        ctx.upstream_model = ch.upstream_model(ctx.model)
        last = await attempt(ch)
        if last is None:
            relay.health.success(ch.id)
            return None
        if last.channel_fault:
            relay.health.failure(ch.id, last.message)
        if not last.retryable:
            break
    return last or UpstreamError(503, f"No available channel for the model `{ctx.model}` right now.",
                                 "service_unavailable", "no_available_channel")


async def send_failure(relay: Relay, ctx: RequestContext, send: Send, err: UpstreamError, rid: Rid) -> None:
    ctx.fail(err.status, "upstream_error", err.message)
    await relay.settle(ctx)
    headers = [rid, *([(b"retry-after", err.retry_after.encode())] if err.retry_after else [])]
    await relay.send_error(send, GatewayError(err.status, err.message, err.type, err.code,
                                              getattr(err, "param", None)), *headers)


async def open_upstream(relay: Relay, ctx: RequestContext, ch: ChannelInfo, method: str, url: str,
                        headers: dict[str, str], data: Any = None, stream: bool = False,
                        params: Any = None) -> H1Response | aiohttp.ClientResponse | UpstreamError:
    """Send one upstream request; connection failures come back as retryable errors, HTTP errors parsed.

    A POST with a bytes body (JSON, or multipart already encoded) goes out like a chat call; query
    strings and streamed form bodies take the aiohttp session."""
    ctx.upstream_started = time.perf_counter()
    limits = timeout_for(relay.rt.settings, ch.timeout_s, stream)
    try:
        if method == "POST" and params is None and isinstance(data, bytes):
            resp = await relay.request(method, url, data, headers, limits)
        else:
            resp = await send_upstream(relay.client, method, url, data=data, headers=headers, params=params,
                                       timeout=limits)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        ctx.upstream_done()
        return no_answer(exc)
    if resp.status < 300:
        return resp
    try:
        body = await asyncio.wait_for(resp.read(), 10.0)
    except (TimeoutError, aiohttp.ClientError, OSError):
        body = b""
    finally:
        resp.release()
        ctx.upstream_done()
    retryable, fault = classify_status(resp.status)
    err = openai_error(resp.status, body, retryable=retryable, channel_fault=fault)
    try:
        param = orjson.loads(body)["error"]["param"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        param = None
    return ParamError(err.status, err.message, err.type, err.code, err.retryable, err.channel_fault,
                      resp.headers.get("Retry-After") or err.retry_after, param if isinstance(param, str) else None)


async def attempt(relay: Relay, ctx: CallContext, call: Call, ch: ChannelInfo, receive: Receive, send: Send,
                  rid: Rid) -> UpstreamError | None:
    """One channel: its own protocol (Stable Diffusion) or the OpenAI pass-through."""
    ep = call.endpoint
    custom = ep.custom.get(ch.type)
    if custom is not None:
        return await custom(relay, ctx, call, ch, send, rid)
    key = ch.next_key()
    url, headers = openai_target(ch, key, ep.path, ctx.upstream_model)
    data, body_headers = call.upstream_body(ctx.upstream_model)
    resp = await open_upstream(relay, ctx, ch, "POST", url, {**headers, **body_headers}, data,
                               stream=ep.streams or call.stream)
    if isinstance(resp, UpstreamError):
        return resp
    try:
        if call.stream and ep.sse is not None:
            return await ep.sse(relay, ctx, call, resp, receive, send, rid)
        ctype = resp.headers.get("Content-Type", "application/octet-stream")
        if ep.streams or ctype.startswith("text/event-stream"):
            async def before_end() -> None:
                _bill_piped(call, ctx)
                await relay.settle(ctx)

            try:
                err = await pipe(ctx, resp, receive, send, rid, before_end=before_end)
            except ResponseAborted:  # part of it reached the caller: billed as delivered
                _bill_piped(call, ctx)
                raise
            if err is None and not ctx.settled:  # the caller left mid-answer
                _bill_piped(call, ctx)
            return err
        try:
            raw = await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return broken(exc)
        finally:
            ctx.upstream_done()
        try:
            out = ep.answer(call, ctx, raw, ctype)
        except UpstreamFailure as exc:
            return exc.error
        await relay.settle(ctx)
        await send_bytes(send, 200, out, [(b"content-type", ctype.encode("latin-1")), rid, ctx.overhead_header()])
        return None
    finally:
        resp.release()


def _bill_piped(call: Call, ctx: CallContext) -> None:
    if call.endpoint.piped is not None:
        call.endpoint.piped(call, ctx)
    else:
        ctx.unit_cost = ctx.reserved  # an answer the gateway does not read: the worst case


def malformed(what: str) -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(502, f"The upstream returned a malformed {what}.", "upstream_error",
                                         "bad_upstream_response", retryable=True, channel_fault=True))


def json_answer(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise malformed(what)
    return data
