"""POST /v1/chat/completions: authenticate, price, reserve, relay with failover, settle.

The order matters for money: nothing reaches an upstream before the worst-case cost is
reserved, and the settlement in ``finally`` runs however the request ends. A rate-limited key is
counted (relay/ratelimit.py) just before the reservation, and uncounted if the quota refuses it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import aiohttp

from relaygate.api.errors import GatewayError
from relaygate.api.http import JSON_CT, Receive, Scope, Send, read_body, send_bytes
from relaygate.billing.estimate import default_output_limit, estimate_prompt_tokens, requested_output_tokens
from relaygate.billing.pricing import prompt_characters, worst_case_cost
from relaygate.providers.base import ChatRequest, UpstreamError, UpstreamFailure, UpstreamResponse
from relaygate.providers.registry import media_inliner, transport_for
from relaygate.relay.auth import check_model_allowed
from relaygate.relay.context import RequestContext, new_request_id
from relaygate.relay.h1client import H1Response
from relaygate.relay.inbound import OPENAI_CHAT, InboundProtocol
from relaygate.relay.media_inline import canonical_name, inline_images
from relaygate.relay.ratelimit import with_headers
from relaygate.relay.router import candidates
from relaygate.relay.streaming import relay_stream
from relaygate.relay.upstream import no_answer, timeout_for
from relaygate.state.snapshot import ChannelInfo

if TYPE_CHECKING:
    from relaygate.relay.service import Relay


async def handle_chat(relay: Relay, scope: Scope, receive: Receive, send: Send) -> None:
    await run_chat(relay, OPENAI_CHAT, scope, receive, send)


async def run_chat(relay: Relay, inbound: InboundProtocol, scope: Scope, receive: Receive, send: Send) -> None:
    """The chat pipeline for any caller protocol (see relay/inbound.py)."""
    ctx = RequestContext(new_request_id(), inbound.endpoint, time.perf_counter())
    rid = (b"x-request-id", ctx.request_id.encode())
    try:
        channels = await _admit(relay, inbound, ctx, scope, receive)
    except GatewayError as err:
        if ctx.rate is not None:  # counted, then refused by the quota: a refused request does not count
            await relay.rt.limiter.release(ctx.rate)
        ctx.refuse(err)
        await send_error(send, inbound, err, rid)
        relay.record_unbilled(ctx)
        return
    if ctx.rate is not None:
        send = with_headers(send, ctx.rate.headers)
    try:
        await _relay(relay, inbound, ctx, channels, scope, receive, send, rid)
    finally:
        await relay.finish(ctx)


async def send_error(send: Send, inbound: InboundProtocol, err: GatewayError, *headers: tuple[bytes, bytes]) -> None:
    status, body = inbound.error(err)
    extra = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send_bytes(send, status, body, [JSON_CT, *headers, *extra])


async def _admit(relay: Relay, inbound: InboundProtocol, ctx: RequestContext, scope: Scope,
                 receive: Receive) -> tuple[ChannelInfo, ...]:
    """Everything that can refuse a request before money is reserved; returns its channels."""
    rt = relay.rt
    snap = rt.snapshot
    ctx.key, ctx.user = relay.authenticate(scope, snap)
    req = ctx.req = inbound.parse(await read_body(scope, receive, rt.settings.max_body_bytes), scope)
    ctx.model = req.model
    check_model_allowed(ctx.key, req.model)
    channels = snap.routes.get((ctx.user.group, req.model))
    owner = snap.fine_tuned.get(req.model) if snap.fine_tuned else None
    if not channels or (owner is not None and owner != ctx.user.id):  # a fine-tuned model is its owner's
        raise GatewayError(404, f"The model `{req.model}` does not exist or you do not have access to it.",
                           code="model_not_found", param="model")
    price = ctx.price = snap.prices.get(req.model)
    if price is None and not rt.settings.allow_unpriced:
        raise GatewayError(403, f"The model `{req.model}` has no price set; ask the operator to price it.",
                           "permission_error", "model_not_priced", "model")
    output = req.output_limit = requested_output_tokens(req.body) or (price.max_output_tokens if price else None) \
        or default_output_limit(req.model) or rt.settings.default_max_output_tokens
    n = req.body.get("n") or 1
    chars = prompt_characters(req.body) if price is not None and price.per_character is not None else 0
    reserve = worst_case_cost(price, estimate_prompt_tokens(req.body, req.model), output * n, chars)
    if ctx.key.limits is not None:  # all an unlimited key pays for rate limits: this check
        ctx.rate = await rt.limiter.admit(ctx.key.limits)
    if not await rt.ledger.reserve(ctx.user.id, ctx.key.id, ctx.key.budget, reserve):
        raise GatewayError(403, "You exceeded your current quota: the balance cannot cover this request "
                           f"(up to {reserve / 1e6:.6f} {rt.settings.currency}).",
                           "insufficient_quota", "insufficient_quota")
    ctx.reserved = reserve
    return channels


async def _relay(relay: Relay, inbound: InboundProtocol, ctx: RequestContext, channels: tuple[ChannelInfo, ...],
                 scope: Scope, receive: Receive, send: Send, rid: tuple[bytes, bytes]) -> None:
    req = ctx.req
    assert req is not None
    settings = relay.rt.settings
    last: UpstreamError | None = None
    inlined: dict[int, ChatRequest] = {}  # per inlining adapter: the request with its image URLs fetched
    for ch in candidates(channels, relay.health.down):
        if ctx.tries >= settings.relay_max_tries:
            break
        ctx.tries += 1
        ctx.channel_id = ch.id
        req.upstream_model = ctx.upstream_model = ch.upstream_model(req.model)
        attempt = req
        inliner = media_inliner(ch.type)
        if inliner is not None:  # the upstream takes image bytes only: fetch the URLs, once per request
            try:
                attempt = inlined.get(id(inliner)) or await inline_images(
                    relay.media, req, inliner, getattr(inbound, "part_name", canonical_name))
            except GatewayError as err:  # the caller's URL: refused or unreachable, never sent upstream
                ctx.fail(err.status, "rejected", err.message)
                await relay.settle(ctx)
                await send_error(send, inbound, err, rid)
                return
            inlined[id(inliner)] = attempt
            attempt.upstream_model = req.upstream_model
        last = await _try_channel(relay, inbound, ctx, ch, attempt, receive, send, rid)
        if last is None:
            relay.health.success(ch.id)
            return
        if last.channel_fault:
            relay.health.failure(ch.id, last.message)
        if not last.retryable:
            break
    if last is None:
        last = UpstreamError(503, f"No available channel for the model `{req.model}` right now.",
                             "service_unavailable", "no_available_channel")
    ctx.fail(last.status, "upstream_error", last.message)
    await relay.settle(ctx)
    headers = [rid, *([(b"retry-after", last.retry_after.encode())] if last.retry_after else [])]
    await send_error(send, inbound, GatewayError(last.status, last.message, last.type, last.code), *headers)


async def _try_channel(relay: Relay, inbound: InboundProtocol, ctx: RequestContext, ch: ChannelInfo,
                       req: ChatRequest, receive: Receive, send: Send,
                       rid: tuple[bytes, bytes]) -> UpstreamError | None:
    """One attempt. Returns None when the caller got an answer, else the error for failover.

    The upstream call is the pooled HTTP client's, unless the channel type registered a transport
    (an async credential step, a WebSocket): that one performs the call and hands back an object
    read exactly like the HTTP response, so failover, timeouts and billing stay the same.
    """
    adapter = inbound.adapter(ch.type)
    key = ch.next_key()
    try:
        up = adapter.build_chat(ch, key, req)
    except UpstreamFailure as exc:  # this protocol cannot carry the request; another channel may
        return exc.error
    timeout = timeout_for(relay.rt.settings, ch.timeout_s, req.stream)
    transport = transport_for(ch.type)
    ctx.upstream_started = time.perf_counter()
    try:
        if transport is None:
            resp = await relay.request(up.method, up.url, up.body, up.headers, timeout)
        else:
            resp = await transport.send(relay.client, ch, key, up, req, timeout)
    except UpstreamFailure as exc:  # the transport classified it (e.g. the channel's credentials)
        ctx.upstream_done()
        return exc.error
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        ctx.upstream_done()
        return no_answer(exc)
    try:
        if resp.status >= 300:
            body = await _read_quietly(resp)
            ctx.upstream_done()
            err = adapter.parse_error(resp.status, body)
            err.retry_after = resp.headers.get("Retry-After") or err.retry_after
            return err
        if req.stream:
            return await relay_stream(relay, ctx, resp, adapter, req, receive, send, rid, inbound)
        try:
            raw = await resp.read()
            ctx.upstream_done()
            body, ctx.usage = adapter.parse_chat(req, raw)
        except UpstreamFailure as exc:
            return exc.error
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            ctx.upstream_done()
            return UpstreamError(502, f"The upstream connection failed mid-answer: {type(exc).__name__}.",
                                 "upstream_error", "upstream_broken", retryable=True, channel_fault=True)
        if ctx.usage is None:
            ctx.completion_text = adapter.completion_text(raw)
        await relay.settle(ctx)
        await send_bytes(send, 200, body, [JSON_CT, rid, ctx.overhead_header()])
        return None
    finally:
        if transport is None:
            resp.release()
        else:
            await resp.aclose()  # e.g. a WebSocket's closing handshake


async def _read_quietly(resp: H1Response | aiohttp.ClientResponse | UpstreamResponse) -> bytes:
    try:
        return await asyncio.wait_for(resp.read(), 10.0)
    except (TimeoutError, aiohttp.ClientError, OSError):
        return b""
