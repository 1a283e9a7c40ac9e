"""A lean pipelined Redis connection for the ledger's two scripts per request.

redis-py spends tens of microseconds of Python on every command (pool checkout, packing, a
parser behind several layers, a pipeline object per batch): with Redis, that was most of what a
request cost beyond a single worker's, and at concurrency 1 it doubled the gateway's CPU per
request. Here each process keeps one connection for ``EVALSHA``: commands are packed by hand,
those of one event-loop turn leave in one write, and replies are parsed by hiredis and matched
in order. The scripts, their atomicity and the errors callers see (redis-py's exception types)
are unchanged. Set-ups it does not speak (TLS, RESP3) keep redis-py (billing/redis_batch.py).

A reply not received within ``timeout_s`` closes the connection and fails every waiting call
(the next call reconnects): a hung Redis turns into the ledger's 503, never into a hung request.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


def pack(*parts: Any) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


@dataclass(slots=True)
class _Call:
    """A script call in flight: retried once (after ``SCRIPT LOAD``) if Redis has forgotten it."""

    script: Any  # redis-py's registered Script: .sha and .script
    argv: list[Any]  # number of keys, keys, args
    result: asyncio.Future[Any]
    retried: bool = False


class _Connection(asyncio.Protocol):
    def __init__(self, pipe: ScriptPipe) -> None:
        self.pipe = pipe
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.out: list[bytes] = []
        self.flushing = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass

    def send(self, command: bytes, reply: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.waiting.append((reply, loop.time()))
        self.out.append(command)
        if not self.flushing:
            self.flushing = True
            loop.call_soon(self.flush)
        self.pipe.arm(loop)

    def flush(self) -> None:
        self.flushing = False
        if self.out and self.transport is not None and not self.lost:
            self.transport.write(b"".join(self.out))
        self.out = []

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                fut, _ = self.waiting.popleft()
                if not fut.done():
                    fut.set_result(reply)
        except (hiredis.ProtocolError, IndexError):  # not Redis, or a reply nobody asked for
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pipe.lost(self)
        error = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        while self.waiting:
            fut, _ = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(error)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class ScriptPipe:
    """``call(script, keys, args)`` → a future of the script's reply; one connection per process."""

    def __init__(self, host: str | None = None, port: int = 6379, path: str | None = None, db: int = 0,
                 username: str | None = None, password: str | None = None, timeout_s: float = 10.0,
                 connect_timeout_s: float = 5.0) -> None:
        self.host, self.port, self.path, self.db = host, port, path, db
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._backlog: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._epoch = 0  # counts connections: what was reserved ahead is trusted on the one it was made on

    @classmethod
    def for_client(cls, client: Any) -> ScriptPipe | None:
        """The same server as a redis-py client, or None where this client does not fit."""
        from redis.asyncio.connection import Connection, UnixDomainSocketConnection

        pool = client.connection_pool
        kw = pool.connection_kwargs
        if kw.get("protocol") not in (None, 2, "2"):
            return None
        common = {"db": int(kw.get("db") or 0), "username": kw.get("username"), "password": kw.get("password"),
                  "timeout_s": float(kw.get("socket_timeout") or 10.0),
                  "connect_timeout_s": float(kw.get("socket_connect_timeout") or 5.0)}
        if pool.connection_class is Connection:
            return cls(host=kw.get("host") or "localhost", port=int(kw.get("port") or 6379), **common)
        if pool.connection_class is UnixDomainSocketConnection:
            return cls(path=kw["path"], **common)
        return None

    def call(self, script: Any, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        call = _Call(script, [len(keys), *keys, *args], loop.create_future())
        self._evalsha(call, loop)
        return call.result

    def _evalsha(self, call: _Call, loop: asyncio.AbstractEventLoop) -> None:
        reply: asyncio.Future[Any] = loop.create_future()
        reply.add_done_callback(lambda f: self._answered(call, f))
        self._send(pack(b"EVALSHA", call.script.sha, *call.argv), reply, loop)

    def _answered(self, call: _Call, reply: asyncio.Future[Any]) -> None:
        if call.result.done():
            return
        if reply.cancelled():
            call.result.cancel()
            return
        exc = reply.exception()
        if exc is not None:
            call.result.set_exception(exc)
            return
        value = reply.result()
        if not isinstance(value, hiredis.ReplyError):
            call.result.set_result(value)
        elif str(value).startswith("NOSCRIPT") and not call.retried:  # Redis restarted and forgot it
            call.retried = True
            loaded: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            loaded.add_done_callback(lambda f: self._reloaded(call, f))
            self._send(pack(b"SCRIPT", b"LOAD", call.script.script), loaded, asyncio.get_running_loop())
        else:
            call.result.set_exception(ResponseError(str(value)))

    def _reloaded(self, call: _Call, loaded: asyncio.Future[Any]) -> None:
        if call.result.done():
            return
        failed = loaded.exception() if not loaded.cancelled() else RedisConnectionError("cancelled")
        if failed is None and isinstance(loaded.result(), hiredis.ReplyError):
            failed = ResponseError(str(loaded.result()))
        if failed is not None:
            call.result.set_exception(failed)
        else:
            self._evalsha(call, asyncio.get_running_loop())

    def _send(self, command: bytes, reply: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
        if self._closed:
            reply.set_exception(RedisConnectionError("the ledger's Redis connection is closed"))
        elif self._conn is not None and not self._conn.lost:
            self._conn.send(command, reply, loop)
        else:
            self._backlog.append((command, reply))
            if self._connecting is None:
                self._connecting = loop.create_task(self._connect(), name="ledger-redis-connect")

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            conn = _Connection(self)
            if self.path is not None:
                opening = loop.create_unix_connection(lambda: conn, self.path)
            else:
                opening = loop.create_connection(lambda: conn, self.host, self.port)
            await asyncio.wait_for(opening, self.connect_timeout_s)
            setup = []
            if self.password is not None:
                auth = (b"AUTH", self.username, self.password) if self.username else (b"AUTH", self.password)
                setup.append(pack(*auth))
            if self.db:
                setup.append(pack(b"SELECT", self.db))
            replies = []
            for command in setup:
                reply: asyncio.Future[Any] = loop.create_future()
                conn.send(command, reply, loop)
                replies.append(reply)
            for reply in replies:
                value = await reply
                if isinstance(value, hiredis.ReplyError):
                    conn.abort()
                    raise RedisConnectionError(f"Redis refused the connection set-up: {value}")
        except (OSError, TimeoutError, RedisConnectionError, asyncio.CancelledError) as exc:
            backlog, self._backlog = self._backlog, []
            error = exc if isinstance(exc, RedisConnectionError) else RedisConnectionError(
                f"cannot connect to Redis: {exc or type(exc).__name__}")
            for _, reply in backlog:
                if not reply.done():
                    reply.set_exception(error)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self._connecting = None
        self._conn = conn
        self._epoch += 1
        backlog, self._backlog = self._backlog, []
        for command, reply in backlog:
            conn.send(command, reply, loop)

    def link(self) -> int | None:
        """The current connection's number, None while there is none: Redis may have restarted
        empty (or be away) since the last one, so blocks reserved on it are not to be handed out."""
        conn = self._conn
        return self._epoch if conn is not None and not conn.lost else None

    def lost(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """One timer while replies are awaited: it fires at the oldest one's deadline."""
        if self._timer is None:
            self._timer = loop.call_later(self.timeout_s, self._check)

    def _check(self) -> None:
        self._timer = None
        conn = self._conn
        if conn is None or not conn.waiting:
            return
        loop = asyncio.get_running_loop()
        oldest = conn.waiting[0][1]
        if loop.time() - oldest >= self.timeout_s:
            conn.abort()  # connection_lost fails every waiting call
        else:
            self._timer = loop.call_later(oldest + self.timeout_s - loop.time(), self._check)

    async def close(self) -> None:
        """After the last settlement: let the replies on the wire arrive, then close."""
        conn = self._conn
        if conn is not None and conn.waiting:
            await asyncio.gather(*(f for f, _ in list(conn.waiting)), return_exceptions=True)
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if conn is not None and conn.transport is not None:
            conn.transport.close()
