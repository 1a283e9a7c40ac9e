"""A lean pooled HTTP/1.1 client for the hot path: chat calls, and other POSTs with a bytes body.

aiohttp's client was about a quarter of a worker's CPU under load (bench/profile.py): a stream
reader, a payload parser, a writer and a connector stand between the socket and the relay. A
chat call needs far less: one request with a bytes body, the status and headers, then the body
as it arrives. This client is one asyncio protocol per connection with httptools' parser and a
keep-alive pool per origin; it reads like the part of ``aiohttp.ClientResponse`` the relay uses
(``status``, ``headers``, ``read()``, ``content.iter_any()``, ``release()``, ``close()``), and
fails with ``TimeoutError`` or ``OSError`` like the rest of the relay expects.

Everything else (streamed multipart bodies, query params, transports, WebSockets) keeps aiohttp.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

HIGH_WATER = 256 * 1024  # buffered body bytes at which the socket stops being read
_HOP = frozenset(("host", "content-length", "transfer-encoding", "connection"))


class UpstreamProtocolError(ConnectionError):
    """The upstream's bytes were not a valid HTTP/1.1 response."""


class StaleConnection(ConnectionResetError):
    """A pooled connection closed before any answer: the upstream's keep-alive ran out."""


class Limits(Protocol):
    """``aiohttp.ClientTimeout``'s fields that apply here (relay/upstream.py builds them)."""

    total: float | None
    connect: float | None
    sock_read: float | None


class _Origin:
    __slots__ = ("host", "host_header", "idle", "port", "ssl")

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, host_header: str) -> None:
        self.host = host
        self.port = port
        self.ssl = tls
        self.host_header = host_header
        self.idle: list[_Connection] = []


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    def __init__(self, origin: _Origin, loop: asyncio.AbstractEventLoop) -> None:
        self.origin = origin
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.framed = False  # Content-Length or Transfer-Encoding seen
        self.encoding = b""
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.eof_body = False  # no length and not chunked: the body ends when the connection does
        self.received = False
        self.error: BaseException | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.last_read = 0.0
        self.idle_s: float | None = None
        self.deadline: float | None = None

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.last_read = self.loop.time()
        if self.complete or self.idle_since:
            self._fail(UpstreamProtocolError("the upstream sent bytes with no request in flight"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"invalid HTTP response from the upstream: {exc}"))
            return
        if self.size >= HIGH_WATER and not self.paused and not self.complete and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.idle_since:  # idle in the pool: drop it from there
            try:
                self.origin.idle.remove(self)
            except ValueError:
                pass
            return
        if self.complete or self.error is not None:  # done, or failed already (a timeout aborts)
            self._wake()
            return
        if self.eof_body and self.head_done:
            self._finish()
            self._wake()
            return
        if not self.received:
            self.error = StaleConnection("the upstream closed the connection before answering")
        else:
            self.error = exc if isinstance(exc, OSError) else ConnectionResetError(
                "the upstream closed the connection mid-answer")
        self._stop_timer()
        self._wake()

    # --- httptools callbacks ---

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))
        if len(name) in (14, 16, 17):  # the lengths of the three names the framing depends on
            lower = name.lower()
            if lower == b"content-length" or lower == b"transfer-encoding":
                self.framed = True
            elif lower == b"content-encoding":
                self.encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self.raw_headers = []
            self.framed = False
            self.encoding = b""
            return
        self.status = status
        self.head_done = True
        self.eof_body = not self.framed and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        if self.head_done:
            self.keep_alive = self.parser.should_keep_alive()  # reset once the callback returns
            self._finish()

    # --- the request's side ---

    def _finish(self) -> None:
        self.complete = True
        self._stop_timer()
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = exc
        self.abort()
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def abort(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def start(self, data: bytes, limits: Limits) -> None:
        self._reset()
        self.idle_since = 0.0
        now = self.last_read = self.loop.time()
        self.idle_s = limits.sock_read
        self.deadline = now + limits.total if limits.total else None
        due = self._due()
        if due is not None:
            self.timer = self.loop.call_at(due, self._on_timer)
        assert self.transport is not None
        self.transport.write(data)

    def _due(self) -> float | None:
        idle = self.last_read + self.idle_s if self.idle_s else None
        if idle is None or (self.deadline is not None and self.deadline < idle):
            return self.deadline
        return idle

    def _on_timer(self) -> None:
        """Checked on a timer instead of rearmed per read: reads only note the time."""
        self.timer = None
        if self.complete or self.closed:
            return
        now = self.loop.time()
        if self.deadline is not None and now >= self.deadline:
            self._fail(TimeoutError("the upstream did not finish its answer in time"))
            return
        if self.paused:  # the caller is slow, not the upstream
            self.last_read = now
        due = self._due()
        if due is not None and now >= due:
            self._fail(TimeoutError("the upstream went silent"))
            return
        if due is not None:
            self.timer = self.loop.call_at(due, self._on_timer)

    async def wait(self) -> None:
        waiter = self.waiter = self.loop.create_future()
        await waiter

    def take(self) -> bytes:
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.size = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data


class H1Response:
    """The part of ``aiohttp.ClientResponse`` the relay reads; ``content`` is the response itself."""

    def __init__(self, pool: H1Pool, conn: _Connection) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self.status = conn.status
        self._raw = conn.raw_headers
        self._headers: Mapping[str, str] | None = None
        self._inflate: Any = None
        encoding = conn.encoding
        if encoding in (b"gzip", b"x-gzip"):
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == b"deflate":
            self._inflate = zlib.decompressobj()
        elif encoding not in (b"identity", b""):
            conn.abort()
            name = encoding.decode("latin-1")
            raise UpstreamProtocolError(f"the upstream answered in an unsupported encoding ({name})")

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive; built on first use, which most answers never need."""
        if self._headers is None:
            self._headers = CIMultiDictProxy(CIMultiDict(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw))
        return self._headers

    @property
    def content(self) -> H1Response:
        return self

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The body as it arrives, each piece everything buffered at that moment."""
        while data := await self._next():
            yield data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while data := await self._next():
            for i in range(0, len(data), n):
                yield data[i:i + n]

    async def _next(self) -> bytes:
        """The next buffered body bytes; b"" at the end of the body."""
        conn = self._conn
        if conn is None:
            return b""
        while True:
            if conn.chunks:
                data = conn.take()
                if self._inflate is None:
                    return data
                data = self._inflate.decompress(data)
                if data:  # a piece of gzip header alone inflates to nothing: not the end
                    return data
                continue
            if conn.complete:
                if self._inflate is not None:
                    tail, self._inflate = self._inflate.flush(), None
                    if tail:
                        return tail
                return b""
            if conn.error is not None:
                raise conn.error
            await conn.wait()

    async def read(self) -> bytes:
        parts = []
        while True:
            data = await self._next()
            if not data:
                return b"".join(parts)
            parts.append(data)

    def release(self) -> None:
        """Back to the pool when the whole answer was read on a connection that stays open."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.complete and conn.error is None and not conn.closed and not conn.chunks \
                and conn.keep_alive:
            self._pool._put(conn)
        else:
            conn.abort()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()


class H1Pool:
    """Keep-alive connections per origin (scheme, host, port); no limit, like the aiohttp pool it replaces."""

    def __init__(self, user_agent: str = "relaygate", keepalive_s: float = 60.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.user_agent = user_agent
        self.keepalive_s = keepalive_s
        self._origins: dict[str, tuple[_Origin, str]] = {}  # URL -> (origin, request target)
        self._by_key: dict[tuple[str, str, int], _Origin] = {}
        self._tls = tls  # default: the system's CAs (SSL_CERT_FILE / SSL_CERT_DIR apply), made on first use

    def _origin(self, url: str) -> tuple[_Origin, str]:
        found = self._origins.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamProtocolError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        key = (parts.scheme, parts.hostname, port)
        origin = self._by_key.get(key)
        if origin is None:
            if tls and self._tls is None:
                self._tls = ssl.create_default_context()
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            default = port == (443 if tls else 80)
            origin = self._by_key[key] = _Origin(parts.hostname, port, self._tls if tls else None,
                                                 host if default else f"{host}:{port}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if len(self._origins) > 4096:  # URLs are per channel; a bound keeps a misuse from growing it
            self._origins.clear()
        found = self._origins[url] = (origin, target)
        return found

    def _head(self, method: str, origin: _Origin, target: str, headers: Mapping[str, str], length: int) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\n", f"Host: {origin.host_header}\r\n", f"Content-Length: {length}\r\n"]
        agent = encoding = False
        for name, value in headers.items():
            lower = name.lower()
            if lower in _HOP:
                continue
            agent = agent or lower == "user-agent"
            encoding = encoding or lower == "accept-encoding"
            lines.append(f"{name}: {value}\r\n")
        if not agent:
            lines.append(f"User-Agent: {self.user_agent}\r\n")
        if not encoding:
            lines.append("Accept-Encoding: identity\r\n")
        lines.append("\r\n")
        text = "".join(lines)
        # One line break per line, none inside a name or value: one count instead of a check per header.
        if text.count("\n") != len(lines) or text.count("\r") != len(lines):
            raise UpstreamProtocolError("a request header holds a line break")
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            raise UpstreamProtocolError("a request header holds a character HTTP/1.1 cannot carry") from None

    async def request(self, method: str, url: str, data: bytes = b"", headers: Mapping[str, str] | None = None,
                      limits: Limits | None = None) -> H1Response:
        """Send one request and wait for the status and headers; the body is read from the response.

        A pooled connection that turns out to be closed (the upstream's keep-alive ended as the
        request went out) is replaced by a fresh one, once: the body is bytes, so resending is safe.
        """
        origin, target = self._origin(url)
        head = self._head(method, origin, target, headers or {}, len(data))
        limits = limits or _NO_LIMITS
        pooled = self._take(origin)
        if pooled is not None:
            try:
                return await self._exchange(pooled, head, data, limits)
            except StaleConnection:
                pass
        return await self._exchange(await self._connect(origin, limits.connect), head, data, limits)

    async def _exchange(self, conn: _Connection, head: bytes, data: bytes, limits: Limits) -> H1Response:
        """Write the request and wait for the head of the answer."""
        if len(data) < 65536:
            conn.start(head + data, limits)  # one write for the usual small body
        else:
            conn.start(head, limits)
            assert conn.transport is not None
            conn.transport.write(data)
        try:
            while not conn.head_done:
                if conn.error is not None:
                    raise conn.error
                await conn.wait()
        except BaseException:
            conn.abort()
            raise
        return H1Response(self, conn)

    def _take(self, origin: _Origin) -> _Connection | None:
        idle = origin.idle
        horizon = time.monotonic() - self.keepalive_s
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if conn.idle_since < horizon:
                conn.idle_since = 0.0
                conn.abort()
                continue
            conn.idle_since = 0.0
            return conn
        return None

    def _put(self, conn: _Connection) -> None:
        now = conn.idle_since = time.monotonic()
        idle = conn.origin.idle
        idle.append(conn)
        # Requests take from the top, so after a burst the bottom can sit unused: expire it here.
        while idle[0].idle_since < now - self.keepalive_s:
            old = idle.pop(0)
            old.idle_since = 0.0
            old.abort()

    async def _connect(self, origin: _Origin, limit: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(origin, loop)
        async with asyncio.timeout(limit):
            await loop.create_connection(lambda: conn, origin.host, origin.port, ssl=origin.ssl,
                                         server_hostname=origin.host if origin.ssl else None)
        return conn

    async def close(self) -> None:
        for origin in self._by_key.values():
            for conn in origin.idle:
                conn.idle_since = 0.0
                conn.abort()
            origin.idle.clear()


class _NoLimits:
    total = None
    connect = None
    sock_read = None


_NO_LIMITS = _NoLimits()
