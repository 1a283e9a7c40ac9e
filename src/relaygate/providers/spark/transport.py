"""One WebSocket per request, read by the pipeline like an HTTP response (see providers/base.py).

:func:`open_answer` connects to the signed URL (within the connect timeout), sends the request
frame and waits for the first answer frame (within the first-byte timeout): like headers, that first
frame decides between an answer (status 200) and an error (a refused handshake keeps its HTTP
status, an error frame gets the status of its code), so failover works as for HTTP channels.

:class:`WSAnswer` then yields one frame per item (``content.iter_any()``) until the last frame,
each within the idle timeout, or collects them all (``read()``: a JSON array, within the total
timeout). ``aclose()`` always runs last: it starts the closing handshake (code 1000, bounded by
:data:`CLOSE_TIMEOUT_S`) in the background, also when the caller left mid-answer (the pipeline
cancels the read first, which ends the stream at once).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import aiohttp
import orjson
from yarl import URL

from relaygate.providers.spark.errors import frame_code, status_of
from relaygate.providers.spark.frames import is_last

CLOSE_TIMEOUT_S = 2.0
MAX_FRAME = 16 * 1024 * 1024
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


class WSAnswer:
    __slots__ = ("_first", "_idle", "_total", "_ws", "aborted", "finished", "headers", "status")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse | None, status: int, first: bytes,
                 idle: float | None, total: float | None) -> None:
        self._ws = ws
        self.status = status
        self.headers: Mapping[str, str] = {}
        self._first: bytes | None = first
        self._idle = idle
        self._total = total
        self.finished = status != 200 or _last(first)
        self.aborted = False

    @property
    def content(self) -> WSAnswer:
        return self

    async def iter_any(self) -> AsyncIterator[bytes]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        while not self.finished and not self.aborted:
            frame = await self._next()
            if frame is None:
                return  # closed before the last frame: the relay reports the answer incomplete
            self.finished = _last(frame)
            yield frame

    async def read(self) -> bytes:
        frames: list[bytes] = []
        async with asyncio.timeout(self._total):
            async for frame in self.iter_any():
                frames.append(frame)
        if self.status == 200 and not self.finished:
            raise aiohttp.ClientPayloadError("the WebSocket closed before the last frame")
        return frames[0] if self.status != 200 else b"[" + b",".join(frames) + b"]"

    def close(self) -> None:
        self.aborted = True

    async def aclose(self) -> None:
        """Starts the closing handshake without waiting for it: the request's settlement and usage
        record must not wait for a network round trip after the caller has its answer."""
        ws, self._ws = self._ws, None
        if ws is None or ws.closed:
            return
        task = asyncio.ensure_future(_close(ws))
        _CLOSING.add(task)  # a strong reference until it is done
        task.add_done_callback(_CLOSING.discard)

    async def _next(self) -> bytes | None:
        assert self._ws is not None
        msg = await self._ws.receive(timeout=self._idle)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return msg.data.encode()
        if msg.type == aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type in _CLOSED:
            return None
        return b""  # ping/pong and the like carry nothing for the caller


_CLOSING: set[asyncio.Future[None]] = set()


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code=aiohttp.WSCloseCode.OK)


def _last(frame: bytes) -> bool:
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and is_last(data)


async def open_answer(client: aiohttp.ClientSession, url: str, frame: bytes,
                      limits: aiohttp.ClientTimeout) -> WSAnswer:
    idle = limits.sock_read
    ws: aiohttp.ClientWebSocketResponse | None = None
    try:
        async with asyncio.timeout(limits.connect):  # the TCP connect and the upgrade handshake
            try:
                ws = await client.ws_connect(URL(url, encoded=True), autoping=True, max_msg_size=MAX_FRAME,
                                             timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S))
            except aiohttp.WSServerHandshakeError as exc:
                reason = "the signed WebSocket handshake was refused (HMAC signature, date or key)"
                return WSAnswer(None, exc.status or 401, orjson.dumps({"message": reason}), idle, limits.total)
        await ws.send_str(frame.decode())
        answer = WSAnswer(ws, 200, b"", idle, limits.total)
        first = await answer._next()  # within the first-byte (idle) timeout
        while first == b"":
            first = await answer._next()
    except BaseException:
        if ws is not None:
            await WSAnswer(ws, 200, b"", None, None).aclose()
        raise
    if first is None:
        await answer.aclose()
        raise aiohttp.ServerDisconnectedError("the upstream closed the WebSocket without answering")
    code = frame_code(_loads(first))
    if code:
        await answer.aclose()
        return WSAnswer(None, status_of(code), first, idle, limits.total)
    return WSAnswer(ws, 200, first, idle, limits.total)


def _loads(frame: bytes) -> object:
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
