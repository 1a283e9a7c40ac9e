"""Relays an upstream stream to the caller as it arrives, and notices a caller that leaves.

The response start is held back until the first upstream bytes arrive, so a channel that fails
before producing anything can still be replaced by the next one. A disconnect cancels the
relay at once (not at the next chunk), closes the upstream call, and bills what was relayed; one
after the stream's last event is not a cancellation.
``resp`` is the pooled client's response or a transport's (providers/base.py): both are read the
same way; a transport's ``aclose`` (a WebSocket's closing handshake) runs after this returns.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import aiohttp

from relaygate.api.http import SSE_HEADERS, Receive, Send
from relaygate.billing.tokens import count_tokens
from relaygate.providers.base import ChatAdapter, ChatRequest, StreamRelay, UpstreamError, UpstreamResponse
from relaygate.relay.context import RequestContext
from relaygate.relay.h1client import H1Response
from relaygate.relay.inbound import OPENAI_CHAT, InboundProtocol
from relaygate.relay.piping import watch_disconnect

if TYPE_CHECKING:
    from relaygate.relay.service import Relay


async def relay_stream(relay: Relay, ctx: RequestContext, resp: H1Response | aiohttp.ClientResponse | UpstreamResponse,
                       adapter: ChatAdapter, req: ChatRequest, receive: Receive, send: Send, rid: tuple[bytes, bytes],
                       inbound: InboundProtocol = OPENAI_CHAT) -> UpstreamError | None:
    stream = adapter.stream_relay(req)
    started = False
    try:
        async with watch_disconnect(receive) as gone:
            try:
                async for data in resp.content.iter_any():
                    out = stream.feed(data)
                    if not out:
                        continue
                    if not started:
                        ctx.upstream_first_byte()
                        await send({"type": "http.response.start", "status": 200,
                                    "headers": [*SSE_HEADERS, rid, ctx.overhead_header()]})
                        started = True
                        ctx.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            except asyncio.CancelledError:
                if not gone():
                    raise
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                resp.close()  # abort the upstream call: it stops generating and billing
                if not stream.done and stream.error is None:
                    ctx.fail(499, "client_cancelled", "the client disconnected mid-stream")
                    _bill_partial(ctx, stream)
                    return None
                # The caller left after the stream's last event (an SDK closes on [DONE] or an error
                # event) while the upstream's end was still in flight: the answer was whole.
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        if not started:
            return UpstreamError(504 if isinstance(exc, TimeoutError) else 502,
                                 f"The upstream stream failed before any data: {type(exc).__name__}.",
                                 "upstream_error", "upstream_broken", retryable=True, channel_fault=True)
        ctx.fail(502, "upstream_error", f"the upstream stream broke after data was sent: {type(exc).__name__}")
    finally:
        ctx.upstream_done()
    if not started:
        return UpstreamError(502, "The upstream ended the stream without sending anything.", "upstream_error",
                             "upstream_empty_stream", retryable=True, channel_fault=True)
    if stream.done and stream.error is None:
        ctx.usage = stream.usage
        if ctx.usage is None:
            ctx.completion_text = stream.completion_text()
    else:
        _bill_partial(ctx, stream)
    tail = b""
    if stream.error is not None:
        ctx.fail(stream.error.status, "upstream_error", stream.error.message)
    elif not stream.done:
        if ctx.outcome == "ok":
            ctx.fail(502, "upstream_error", "the upstream stream ended without [DONE]")
        tail = inbound.stream_error("The upstream stream ended unexpectedly; the answer is incomplete.",
                                    "upstream_error", "stream_incomplete")
    await relay.settle(ctx)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
    return None


def _bill_partial(ctx: RequestContext, stream: StreamRelay) -> None:
    """A stream that stopped early: the upstream's counts so far, but never less than was relayed.

    Protocols that report usage up front (Anthropic's message_start) leave a count whose output
    part is stale when the stream breaks; the caller still received the text relayed until then.
    """
    usage = stream.usage
    if usage is None:
        ctx.completion_text = stream.completion_text()
        return
    relayed = count_tokens(stream.completion_text(), ctx.model)
    if relayed > usage.completion_tokens:
        usage = replace(usage, completion_tokens=relayed)
    ctx.usage = usage
