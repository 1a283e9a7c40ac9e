"""A fake OpenAI upstream fast enough never to be the bottleneck of a gateway benchmark.

Why not the simulator in ``relaygate.simulators``: that one is faithful (auth, validation,
error shapes, fault knobs) and therefore costs a framework's worth of CPU per request. Here the
upstream is the "physical limit" column of the table, so it must answer tens of thousands of
requests per second on one core: raw ``asyncio.Protocol`` on uvloop, just enough HTTP/1.1
(keep-alive, Content-Length or chunked request bodies), and replies built from templates.

Replies are deterministic so the accounting check can be exact: every chat completion reports
``PROMPT_TOKENS`` prompt tokens and ``COMPLETION_TOKENS`` (20) completion tokens, whatever the
prompt. A stream is 20 content chunks (one word each, the last one with ``finish_reason``), then
the usage chunk when ``stream_options.include_usage`` is true, then ``[DONE]``, each event its own
HTTP chunk and its own socket write, with ``"usage":null`` on content chunks when usage was asked
for, as OpenAI does.

Run alone: ``python -m bench.upstream --port 9100 [--procs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import cast

import orjson

WORDS = ("The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "seven", "wise", "owls",
         "watch", "from", "an", "old", "oak", "tree", "tonight")
assert len(WORDS) == 20
PROMPT_TOKENS = 12
COMPLETION_TOKENS = len(WORDS)
MAX_HEADER = 64 * 1024

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


def _usage() -> dict[str, int]:
    return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}


class Replies:
    """Pre-rendered bodies per model name: the JSON encoding happens once, not per request."""

    def __init__(self) -> None:
        self._whole: dict[str, bytes] = {}
        self._stream: dict[tuple[str, bool], list[bytes]] = {}
        self._counter = 0

    def whole(self, model: str) -> bytes:
        body = self._whole.get(model)
        if body is None:
            body = orjson.dumps({
                "id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_bench",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(WORDS),
                                                     "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": _usage(),
            })
            if len(self._whole) < 64:
                self._whole[model] = body
        return body

    def stream(self, model: str, include_usage: bool) -> list[bytes]:
        """HTTP chunks (size line, SSE event, CRLF) ready to write, ending with the last chunk."""
        key = (model, include_usage)
        chunks = self._stream.get(key)
        if chunks is None:
            chunks = [_chunk(e) for e in _stream_events(model, include_usage)] + [b"0\r\n\r\n"]
            if len(self._stream) < 64:
                self._stream[key] = chunks
        return chunks


def _stream_events(model: str, include_usage: bool) -> list[bytes]:
    created = int(time.time())
    events = []
    for i, word in enumerate(WORDS):
        delta: dict[str, str] = {"content": word if i == 0 else " " + word}
        if i == 0:
            delta = {"role": "assistant", **delta}
        chunk: dict[str, object] = {
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": "stop" if i == len(WORDS) - 1 else None}],
        }
        if include_usage:
            chunk["usage"] = None
        events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    if include_usage:
        events.append(b"data: " + orjson.dumps({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_bench", "choices": [], "usage": _usage()}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def models_body() -> bytes:
    return orjson.dumps({"object": "list", "data": [
        {"id": "bench-model", "object": "model", "created": 0, "owned_by": "bench"}]})


class HttpProtocol(asyncio.Protocol):
    """One client connection: parse pipelined HTTP/1.1 requests out of a buffer and answer them."""

    __slots__ = ("_buf", "_replies", "_transport")

    def __init__(self, replies: Replies) -> None:
        self._replies = replies
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:  # uvloop already sets it; say so for the stdlib loop too
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buf = self._buf + data if self._buf else data
        while self._buf and self._transport is not None:
            if not self._one():
                break

    def _one(self) -> bool:
        """Handle one complete request from the buffer; False when more bytes are needed."""
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER:
                self._fail(400)
            return False
        head = buf[:end].split(b"\r\n")
        parts = head[0].split(b" ")
        if len(parts) != 3:
            self._fail(400)
            return False
        method, target, version = parts
        length = 0
        chunked = False
        close = version == b"HTTP/1.0"
        for line in head[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                v = value.strip().lower()
                close = v == b"close" or (close and v != b"keep-alive")
        start = end + 4
        if chunked:
            decoded = _dechunk(buf, start)
            if decoded is None:
                return False
            body, consumed = decoded
        else:
            if len(buf) - start < length:
                return False
            body, consumed = buf[start:start + length], start + length
        self._buf = buf[consumed:]
        self._respond(method, target.split(b"?", 1)[0], body, close)
        return True

    def _respond(self, method: bytes, path: bytes, body: bytes, close: bool) -> None:
        t = self._transport
        assert t is not None
        if path.endswith(b"/chat/completions"):
            if method != b"POST":
                self._send(405, b'{"error":{"message":"use POST"}}', close)
                return
            try:
                req = orjson.loads(body)
                model = str(req.get("model") or "bench-model")
            except (orjson.JSONDecodeError, AttributeError):
                self._send(400, b'{"error":{"message":"bad JSON","type":"invalid_request_error"}}', close)
                return
            if req.get("stream") is True:
                opts = req.get("stream_options")
                usage = isinstance(opts, dict) and opts.get("include_usage") is True
                t.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                        b"Transfer-Encoding: chunked\r\n" + (b"Connection: close\r\n" if close else b"") + b"\r\n")
                for chunk in self._replies.stream(model, usage):
                    t.write(chunk)
                if close:
                    t.close()
                return
            self._send(200, self._replies.whole(model), close)
        elif path.endswith(b"/models") and method == b"GET":
            self._send(200, models_body(), close)
        else:
            self._send(404, b'{"error":{"message":"not found","type":"invalid_request_error"}}', close)

    def _send(self, status: int, body: bytes, close: bool) -> None:
        t = self._transport
        assert t is not None
        t.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
            status, _REASONS.get(status, b"Error"), len(body), b"Connection: close\r\n" if close else b"", body))
        if close:
            t.close()

    def _fail(self, status: int) -> None:
        self._buf = b""
        self._send(status, b'{"error":{"message":"bad request"}}', True)


def _dechunk(buf: bytes, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked request body starting at ``pos``: (body, end offset), or None if incomplete."""
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        parts.append(buf[pos:pos + size])
        pos += size + 2


def make_socket(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT, so several processes can share the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def serve(host: str, port: int, ready: Callable[[], None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    replies = Replies()
    server = await loop.create_server(lambda: HttpProtocol(replies), sock=make_socket(host, port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready()
    async with server:
        await stop.wait()


def run(host: str, port: int) -> None:
    import uvloop

    uvloop.run(serve(host, port, lambda: print(f"upstream {os.getpid()} ready on {host}:{port}", flush=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.upstream", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--procs", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    args = parser.parse_args(argv)
    children: list[int] = []
    for _ in range(args.procs - 1):
        pid = os.fork()
        if pid == 0:
            run(args.host, args.port)
            os._exit(0)
        children.append(pid)
    try:
        run(args.host, args.port)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except ProcessLookupError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
