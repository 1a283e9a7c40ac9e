"""Answers streamed to the caller as they arrive, bytes untouched: audio, file contents, SSE the gateway
does not read. Used by the non-chat pipeline (:mod:`relaygate.relay.pipeline`) and the files endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp

from relaygate.api.http import ClientGone, Receive, Send
from relaygate.providers.base import UpstreamError
from relaygate.relay.context import RequestContext
from relaygate.relay.h1client import H1Response

Rid = tuple[bytes, bytes]
CHUNK = 64 * 1024


class ResponseAborted(ClientGone):
    """The upstream broke after the caller's response started: the connection is dropped so the caller
    sees a truncated answer rather than a short one that looks complete."""


def broken(exc: BaseException) -> UpstreamError:
    return UpstreamError(502, f"The upstream connection failed mid-answer: {type(exc).__name__}.",
                         "upstream_error", "upstream_broken", retryable=True, channel_fault=True)


@contextlib.asynccontextmanager
async def watch_disconnect(receive: Receive) -> AsyncIterator[Callable[[], bool]]:
    """Cancel the current task the moment the caller disconnects; yields "has the caller gone?"."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    watching = True  # a callback already scheduled when watching ends must not cancel what follows

    def on_message(fut: asyncio.Future) -> None:
        nonlocal gone
        if watching and not fut.cancelled() and fut.exception() is None \
                and fut.result()["type"] == "http.disconnect":
            gone = True
            task.cancel()

    watcher = asyncio.ensure_future(receive())
    watcher.add_done_callback(on_message)
    try:
        yield lambda: gone
    finally:
        watching = False
        watcher.remove_done_callback(on_message)
        watcher.cancel()


async def pipe(ctx: RequestContext, resp: H1Response | aiohttp.ClientResponse, receive: Receive, send: Send, rid: Rid,
               empty_ok: bool = False, before_end: Callable[[], Awaitable[None]] | None = None) -> UpstreamError | None:
    """Stream an answer (binary audio, a file, SSE) to the caller chunk by chunk, as it arrives.

    The response starts with the first bytes, so a channel that fails before sending any can still be
    replaced. A caller that leaves stops the upstream call; an upstream that breaks later drops the
    caller's connection (:class:`ResponseAborted`)."""
    headers = [(b"content-type", resp.headers.get("Content-Type", "application/octet-stream").encode("latin-1")),
               rid]
    for name in ("Content-Length", "Content-Disposition"):
        if name in resp.headers and not (name == "Content-Length" and resp.headers.get("Content-Encoding")):
            headers.append((name.lower().encode(), resp.headers[name].encode("latin-1")))
    started = False

    async def start() -> None:
        nonlocal started
        ctx.upstream_first_byte()
        await send({"type": "http.response.start", "status": 200, "headers": [*headers, ctx.overhead_header()]})
        started = True
        ctx.ttft_ms = int((time.perf_counter() - ctx.started) * 1000)

    try:
        async with watch_disconnect(receive) as gone:
            try:
                async for data in resp.content.iter_chunked(CHUNK):
                    if not started:
                        await start()
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            except asyncio.CancelledError:
                if not gone():
                    raise
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                resp.close()
                ctx.fail(499, "client_cancelled", "the client disconnected mid-answer")
                return None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        if not started:
            return broken(exc)
        ctx.fail(502, "upstream_error", f"the upstream answer broke after data was sent: {type(exc).__name__}")
        raise ResponseAborted() from exc
    finally:
        ctx.upstream_done()
    if not started:
        if not empty_ok:
            return UpstreamError(502, "The upstream sent an empty answer.", "upstream_error", "upstream_empty",
                                 retryable=True, channel_fault=True)
        await start()
    if before_end is not None:  # e.g. settle: the caller's answer completes only once it is recorded
        await before_end()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return None
