"""The incremental multipart parser and the spooled form: any chunking, limits, faithful re-emission."""

from __future__ import annotations

import os
import random
from collections import deque

import httpx
import pytest

from relaygate.api.errors import GatewayError
from relaygate.api.http import ClientGone
from relaygate.relay.multipart import MultipartError, MultipartParser, read_form
from relaygate.simulators.common import multipart as sim_multipart


def encoded(files: dict, data: dict) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.headers["content-type"], request.read()


def receiver(body: bytes, sizes: list[int] | None = None, disconnect_after: int | None = None):  # type: ignore[no-untyped-def]
    pieces: deque[bytes] = deque()
    position = 0
    rng = random.Random(len(body))
    planned = iter(sizes or ())
    while position < len(body):
        size = next(planned, None) or rng.randint(1, 9000)
        pieces.append(body[position:position + size])
        position += size
    sent = 0

    async def receive() -> dict:
        nonlocal sent
        if disconnect_after is not None and sent >= disconnect_after:
            return {"type": "http.disconnect"}
        if not pieces:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent += 1
        chunk = pieces.popleft()
        return {"type": "http.request", "body": chunk, "more_body": bool(pieces)}

    return receive


def scope_for(content_type: str, length: int | None = None) -> dict:
    headers = [(b"content-type", content_type.encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"headers": headers}


async def collect(form) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join([piece async for piece in form.body()])


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 4096, None])
async def test_round_trip_any_chunking(chunk: int | None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blob = os.urandom(100_000 if chunk and chunk < 3 else 300_000) + b"\r\n--" + os.urandom(10)
    ctype, body = encoded({"file": ("a b\".wav", blob, "audio/wav"), "mask": ("m.png", b"", "image/png")},
                          {"model": "whisper-1", "prompt": "h\u00e9llo\r\nworld", "empty": ""})
    sizes = [chunk] * (len(body) // chunk + 1) if chunk else None
    form = await read_form(scope_for(ctype), receiver(body, sizes), 10_000_000, tmp_path)
    try:
        assert form.get("model") == "whisper-1" and form.get("prompt") == "h\u00e9llo\r\nworld"
        assert form.get("empty") == "" and form.get("missing") is None
        [audio] = form.files("file")
        assert audio.filename == 'a b".wav' or audio.filename == "a b%22.wav"
        assert audio.content_type == "audio/wav" and audio.size == len(blob)
        assert form.head(audio, 10) == blob[:10]
        assert form.files("mask")[0].size == 0
        again = await collect(form)
        assert again == body and form.size() == len(body) and form.total_bytes == len(body)
        form.set("model", "whisper-large")
        rewritten = await collect(form)
        assert len(rewritten) == form.size()
        parsed = await sim_multipart.parse(form.content_type, rewritten)
        assert parsed.get("model") == "whisper-large" and parsed.file("file").data == blob
        assert [f for f, _ in parsed.fields] == ["model", "prompt", "empty"]
    finally:
        form.close()


async def test_big_files_go_to_disk(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blob = os.urandom(3_000_000)
    ctype, body = encoded({"file": ("big.bin", blob)}, {"purpose": "user_data"})
    form = await read_form(scope_for(ctype), receiver(body), 10_000_000, tmp_path)
    assert form.spool is not None and form.spool._rolled  # type: ignore[attr-defined]
    assert b"".join([p async for p in form.body()]) == body
    assert max(len(p) for p in [p async for p in form.body()]) <= 64 * 1024
    form.close()


async def test_limit_is_enforced_as_bytes_arrive() -> None:
    ctype, body = encoded({"file": ("big.bin", b"x" * 50_000)}, {})
    with pytest.raises(GatewayError) as announced:
        await read_form(scope_for(ctype, len(body)), receiver(body), 10_000)
    assert announced.value.status == 413
    with pytest.raises(GatewayError) as streamed:
        await read_form(scope_for(ctype), receiver(body, [5000] * 20), 10_000)
    assert streamed.value.status == 413 and streamed.value.code == "request_too_large"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nv"),
        ("multipart/form-data; boundary=x", b"--x\r\nno-disposition: here\r\n\r\nv\r\n--x--\r\n"),
        ("multipart/form-data; boundary=x", b"--xjunk"),
    ],
)
async def test_malformed_bodies_are_400(content_type: str, body: bytes) -> None:
    with pytest.raises(GatewayError) as bad:
        await read_form(scope_for(content_type), receiver(body), 10_000)
    assert bad.value.status == 400


async def test_disconnect_mid_upload() -> None:
    ctype, body = encoded({"file": ("a.bin", b"x" * 30_000)}, {})
    with pytest.raises(ClientGone):
        await read_form(scope_for(ctype), receiver(body, [1000] * 40, disconnect_after=3), 1_000_000)


def test_parser_events_and_padding() -> None:
    parser = MultipartParser(b"b")
    events = parser.feed(b"preamble\r\n--b  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\n"
                         b"\r\n2\r\n--b--\r\nepilogue")
    assert [e[0] for e in events] == ["part", "data", "end", "part", "data", "end", "done"]
    assert parser.finished
    with pytest.raises(MultipartError):
        MultipartParser(b"")
