"""The chat hot path's HTTP/1.1 client against scripted servers over loopback: framing, keep-alive,
stale pooled connections, timeouts, backpressure and malformed answers."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import ClientTimeout

from relaygate.relay.h1client import H1Pool, StaleConnection, UpstreamProtocolError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


def timeout(**kwargs: float) -> ClientTimeout:
    """Limits as the relay passes them (relay/upstream.timeout_for)."""
    return ClientTimeout(connect=2.0, **kwargs)


@dataclass
class Server:
    handler: Handler
    connections: int = 0
    requests: list[tuple[list[bytes], bytes]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bool:
        """One request off the connection; False when the client closed it instead."""
        line = await reader.readline()
        if not line:
            self.closed.set()
            return False
        head = [line.rstrip(b"\r\n")]
        length = 0
        while (h := await reader.readline()) != b"\r\n":
            head.append(h.rstrip(b"\r\n"))
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        self.requests.append((head, await reader.readexactly(length)))
        return True


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
    while await srv.read_request(reader):
        writer.write(answer(b'{"ok":true}', "Content-Type: application/json", "X-Seen: " + str(len(srv.requests))))
        await writer.drain()


@pytest.fixture()
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        srv = Server(handler)
        s = await asyncio.start_server(srv.serve, "127.0.0.1", 0)
        servers.append(s)
        srv.url = f"http://127.0.0.1:{s.sockets[0].getsockname()[1]}"
        return srv

    yield start
    for s in servers:
        s.close()


@pytest.fixture()
async def pool() -> AsyncIterator[H1Pool]:
    p = H1Pool()
    yield p
    await p.close()


async def test_requests_share_one_keep_alive_connection(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    srv = await serve(keep_alive)
    for i in range(3):
        resp = await pool.request("POST", srv.url + "/v1/chat/completions?x=1", b'{"n":%d}' % i,
                                  {"Authorization": "Bearer k", "Content-Type": "application/json"})
        assert resp.status == 200 and resp.headers["content-type"] == "application/json"
        assert resp.headers.get("X-SEEN") == str(i + 1)
        assert await resp.read() == b'{"ok":true}'
        resp.release()
    assert srv.connections == 1
    head, body = srv.requests[2]
    assert head[0] == b"POST /v1/chat/completions?x=1 HTTP/1.1" and body == b'{"n":2}'
    port = srv.url.rsplit(":", 1)[1]
    assert f"Host: 127.0.0.1:{port}".encode() in head and b"Authorization: Bearer k" in head
    assert b"Content-Length: 7" in head and b"Accept-Encoding: identity" in head


async def test_a_chunked_stream_arrives_piece_by_piece(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    got_first = asyncio.Event()

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(b"7\r\ndata: 1\r\n")
        await writer.drain()
        await asyncio.wait_for(got_first.wait(), 5)  # the second event waits for the client to see the first
        writer.write(b"7\r\ndata: 2\r\n0\r\n\r\n")
        await writer.drain()
        await srv.read_request(reader)

    srv = await serve(chunked)
    resp = await pool.request("POST", srv.url + "/s", b"{}")
    parts = []
    async for data in resp.content.iter_any():
        parts.append(data)
        got_first.set()
    assert parts == [b"data: 1", b"data: 2"]
    resp.release()
    await pool.close()
    await asyncio.wait_for(srv.closed.wait(), 5)  # it was pooled, and closing the pool closed it


async def test_a_body_without_length_ends_with_the_connection(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"world")

    srv = await serve(until_close)
    for _ in range(2):
        resp = await pool.request("POST", srv.url, b"")
        assert await resp.read() == b"hello world"
        resp.release()
    assert srv.connections == 2  # such a connection cannot carry another request


async def test_gzip_answers_are_inflated_and_unknown_encodings_refused(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    payload = b'{"text":"' + b"ab" * 5000 + b'"}'

    async def encoded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        while await srv.read_request(reader):
            if len(srv.requests) == 1:
                writer.write(answer(gzip.compress(payload), "Content-Encoding: gzip"))
            else:
                writer.write(answer(b"xx", "Content-Encoding: br"))
            await writer.drain()

    srv = await serve(encoded)
    resp = await pool.request("POST", srv.url, b"")
    assert await resp.read() == payload
    resp.release()
    with pytest.raises(UpstreamProtocolError, match="unsupported encoding"):
        await pool.request("POST", srv.url, b"")


async def test_a_pooled_connection_closed_by_the_upstream_is_replaced(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(answer(b"fine"))  # says nothing of closing: the client keeps it
        await writer.drain()
        await srv.read_request(reader)  # the next request on it: its keep-alive ran out, close unanswered

    srv = await serve(one_per_connection)
    for _ in range(3):
        resp = await pool.request("POST", srv.url, b"{}")
        assert await resp.read() == b"fine"
        resp.release()
    # Each later request went out on the pooled connection, was dropped, and went again on a new one.
    assert srv.connections == 3 and len(srv.requests) == 5
    assert all(body == b"{}" for _, body in srv.requests)


async def test_a_fresh_connection_closed_unanswered_fails(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)

    srv = await serve(hang_up)
    with pytest.raises(StaleConnection):
        await pool.request("POST", srv.url, b"{}")
    assert srv.connections == 1  # no retry loop against an upstream that drops every request


async def test_silence_times_out_before_and_after_the_head(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        if srv.connections == 2:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n")
            await writer.drain()
        await asyncio.sleep(10)

    srv = await serve(silent)
    with pytest.raises(TimeoutError):
        await pool.request("POST", srv.url, b"", limits=timeout(sock_read=0.2))
    resp = await pool.request("POST", srv.url, b"", limits=timeout(sock_read=0.2))
    seen = []
    with pytest.raises(TimeoutError):
        async for data in resp.content.iter_any():
            seen.append(data)
    assert seen == [b"data"]
    resp.release()


async def test_a_trickle_stops_at_the_total_limit(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.02)

    srv = await serve(trickle)
    loop = asyncio.get_running_loop()
    started = loop.time()
    resp = await pool.request("POST", srv.url, b"", limits=timeout(total=0.3, sock_read=1.0))
    with pytest.raises(TimeoutError):
        await resp.read()
    assert loop.time() - started < 1.0  # stopped by the total limit, not by the idle one
    resp.release()


async def test_a_slow_reader_holds_the_upstream_back_without_timing_out(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    blob = os.urandom(4 * 1024 * 1024)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(answer(blob))
        await writer.drain()
        await srv.read_request(reader)

    srv = await serve(big)
    resp = await pool.request("POST", srv.url, b"", limits=timeout(sock_read=0.2))
    digest = hashlib.sha256()
    most = 0
    async for data in resp.content.iter_any():
        digest.update(data)
        most = max(most, len(data))
        await asyncio.sleep(0.03)  # slower than the upstream: its reads are paused, not timed out
    assert digest.digest() == hashlib.sha256(blob).digest()
    assert most < 1024 * 1024  # buffered only up to about the high-water mark, not the whole answer
    resp.release()


async def test_interim_answers_are_skipped(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def continue_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"{}", "Retry-After: 3", status="429 Too Many"))
        await writer.drain()
        await srv.read_request(reader)

    srv = await serve(continue_first)
    resp = await pool.request("POST", srv.url, b"")
    assert resp.status == 429 and resp.headers.get("Retry-After") == "3" and await resp.read() == b"{}"
    resp.release()


async def test_malformed_answers_and_headers_are_refused(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"SPDY/9 banana\r\n\r\n")
        await writer.drain()
        await srv.read_request(reader)

    srv = await serve(garbage)
    with pytest.raises(UpstreamProtocolError, match="invalid HTTP response"):
        await pool.request("POST", srv.url, b"")
    with pytest.raises(UpstreamProtocolError, match="holds a line break"):
        await pool.request("POST", srv.url, b"", {"Authorization": "Bearer k\r\nX-Injected: 1"})
    with pytest.raises(UpstreamProtocolError, match="cannot carry"):
        await pool.request("POST", srv.url, b"", {"Authorization": "Bearer ключ"})
    assert len(srv.requests) == 1  # the injected header never went out
    with pytest.raises(UpstreamProtocolError, match="not an http"):
        await pool.request("POST", "ftp://127.0.0.1/x", b"")


async def test_releasing_early_closes_and_expired_connections_are_not_reused(serve) -> None:  # type: ignore[no-untyped-def]
    pool = H1Pool(keepalive_s=0.1)
    srv = await serve(keep_alive)
    resp = await pool.request("POST", srv.url, b"")
    resp.release()  # the body was never read: the connection cannot be trusted for the next request
    resp = await pool.request("POST", srv.url, b"")
    await resp.read()
    resp.release()
    assert srv.connections == 2
    await asyncio.sleep(0.2)  # past the pool's keep-alive: a new connection
    resp = await pool.request("POST", srv.url, b"")
    await resp.read()
    resp.release()
    assert srv.connections == 3
    await pool.close()


async def test_a_refused_connection_is_an_os_error(pool: H1Pool) -> None:
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        await pool.request("POST", f"http://127.0.0.1:{port}/", b"")


async def test_a_connection_left_idle_under_a_busy_one_is_closed_when_it_expires(serve) -> None:  # type: ignore[no-untyped-def]
    pool = H1Pool(keepalive_s=0.2)
    srv = await serve(keep_alive)
    first, second = await asyncio.gather(pool.request("POST", srv.url, b""), pool.request("POST", srv.url, b""))
    for resp in (first, second):
        await resp.read()
        resp.release()
    loop = asyncio.get_running_loop()
    until = loop.time() + 0.5
    while loop.time() < until:  # sequential requests: always the connection on top of the pool
        resp = await pool.request("POST", srv.url, b"")
        await resp.read()
        resp.release()
        await asyncio.sleep(0.01)
    await asyncio.wait_for(srv.closed.wait(), 2)  # the one below expired and was closed
    assert srv.connections == 2
    await pool.close()


async def test_a_gzip_stream_in_small_pieces_is_inflated_whole(serve, pool: H1Pool) -> None:  # type: ignore[no-untyped-def]
    payload = b"".join(b"data: {\"n\":%d}\n\n" % i for i in range(200))
    packed = gzip.compress(payload)

    async def pieces(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n")
        for i in range(0, len(packed), 5):  # the first piece is only part of the gzip header
            part = packed[i:i + 5]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await srv.read_request(reader)

    srv = await serve(pieces)
    resp = await pool.request("POST", srv.url, b"")
    got = b"".join([data async for data in resp.content.iter_any()])
    assert got == payload
    resp.release()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relaygate test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_upstreams_are_verified_and_kept_alive(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    srv = Server(keep_alive)
    server = await asyncio.start_server(srv.serve, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    trusting = H1Pool(tls=ssl.create_default_context(cafile=str(cert)))
    strict = H1Pool()  # the system's CAs: a self-signed certificate is refused
    try:
        for _ in range(2):
            resp = await trusting.request("POST", url, b'{"x":1}', {"Content-Type": "application/json"})
            assert resp.status == 200 and await resp.read() == b'{"ok":true}'
            resp.release()
        assert srv.connections == 1 and srv.requests[1][1] == b'{"x":1}'
        with pytest.raises(ssl.SSLCertVerificationError):  # an OSError: the relay answers 502 and fails over
            await strict.request("POST", url, b"")
    finally:
        await trusting.close()
        await strict.close()
        server.close()
