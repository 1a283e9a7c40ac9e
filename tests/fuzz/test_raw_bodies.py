"""Bodies that are not what any endpoint expects, sent to every JSON and upload endpoint: each gets a
4xx in the endpoint's error shape (413 past the configured limit), never a 5xx or a traceback."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import MAX_BODY_BYTES, MAX_UPLOAD_BYTES, FuzzEnv
from tests.fuzz.harness import check_response, error_of, fuzz_settings

JSON_ENDPOINTS = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/moderations",
                  "/v1/images/generations", "/v1/images/edits", "/v1/audio/speech", "/v1/fine_tuning/jobs",
                  "/v1/messages", "/v1/messages/count_tokens", "/v2/translate"]
UPLOAD_ENDPOINTS = ["/v1/images/edits", "/v1/images/variations", "/v1/audio/transcriptions",
                    "/v1/audio/translations", "/v1/files"]

BROKEN = {
    "empty": b"",
    "invalid-utf8": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\xff\xfe\xc3\x28"}]}',
    "lone-surrogate": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\\ud800"}]}',
    "nested-arrays": b"[" * 100_000,
    "nested-objects": b'{"a":' * 30_000 + b"1" + b"}" * 30_000,
    "nested-in-field": b'{"model": "gpt-4o-mini", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "nan": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": NaN}',
    "infinity": b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}',
    "truncated": b'{"model": "gpt-4o-mini", "messages": [{"role": "us',
    "not-an-object": b'["model", "gpt-4o-mini"]',
    "null": b"null",
    "bom": b'\xef\xbb\xbf{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}',
    "nul-bytes": b"\x00" * 64,
    "form": b"model=gpt-4o-mini&messages=hi",
}
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data", "multipart/form-data; boundary=", "application/json; charset=latin-1",
                 "image/png", ""]


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("path", JSON_ENDPOINTS + UPLOAD_ENDPOINTS[1:])
def test_broken_bodies_are_4xx(fuzz: FuzzEnv, path: str, name: str) -> None:
    resp = fuzz.http.post(path, content=BROKEN[name], headers={"Content-Type": "application/json"})
    check_response(resp, "raw bodies")
    if name != "form" or path != "/v2/translate":
        assert 400 <= resp.status_code < 500, (path, name, resp.status_code, resp.text[:300])


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_oversized_json_is_413_with_the_limit(fuzz: FuzzEnv, path: str) -> None:
    body = b'{"model": "gpt-4o-mini", "input": "' + b"a" * MAX_BODY_BYTES + b'"}'
    resp = fuzz.http.post(path, content=body, headers={"Content-Type": "application/json"})
    check_response(resp, "oversized bodies")
    assert resp.status_code == 413, (path, resp.status_code, resp.text[:300])
    assert str(MAX_BODY_BYTES) in error_of(resp)["message"]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_oversized_chunked_json_is_413(fuzz: FuzzEnv, path: str) -> None:
    """No Content-Length to refuse on: the limit is enforced while the body arrives."""
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "gpt-4o-mini", "input": "'
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"a" * 4096
        yield b'"}'

    resp = fuzz.http.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    check_response(resp, "oversized bodies")
    assert resp.status_code == 413, (path, resp.status_code, resp.text[:300])


@pytest.mark.parametrize("path", UPLOAD_ENDPOINTS)
def test_oversized_upload_is_413(fuzz: FuzzEnv, path: str) -> None:
    files = {"file": ("a.wav", b"\0" * (MAX_UPLOAD_BYTES + 1), "audio/wav"),
             "image": ("a.png", b"\0" * 16, "image/png")}
    resp = fuzz.http.post(path, data={"model": "whisper-1", "purpose": "fine-tune", "prompt": "x"}, files=files)
    check_response(resp, "oversized bodies")
    assert resp.status_code == 413, (path, resp.status_code, resp.text[:300])
    assert str(MAX_UPLOAD_BYTES) in error_of(resp)["message"]


@pytest.mark.parametrize("ctype", CONTENT_TYPES)
@pytest.mark.parametrize("path", JSON_ENDPOINTS + UPLOAD_ENDPOINTS[1:])
def test_wrong_content_types(fuzz: FuzzEnv, path: str, ctype: str) -> None:
    body = b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}], "input": "x", "prompt": "x"}'
    resp = fuzz.http.post(path, content=body, headers={"Content-Type": ctype} if ctype else {})
    check_response(resp, "content types")


@pytest.mark.parametrize("header", [{"Content-Length": "abc"}, {"Content-Length": "-1"},
                                    {"Content-Length": "99999999999999999999999"}])
def test_bad_content_length_is_4xx(fuzz: FuzzEnv, header: dict[str, str]) -> None:
    """Sent raw: a client library would not send these. The server may refuse the request line itself."""
    import socket

    head = "".join(f"{k}: {v}\r\n" for k, v in header.items())
    raw = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {fuzz.key}\r\n{head}"
           "Content-Type: application/json\r\nConnection: close\r\n\r\n{}").encode()
    with socket.create_connection(("127.0.0.1", fuzz.gw.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert b"Traceback" not in answer


@fuzz_settings(60)
@given(body=st.binary(max_size=2048), ctype=st.sampled_from(CONTENT_TYPES),
       path=st.sampled_from(JSON_ENDPOINTS + UPLOAD_ENDPOINTS))
def test_random_bytes(fuzz: FuzzEnv, body: bytes, ctype: str, path: str) -> None:
    resp = fuzz.http.post(path, content=body, headers={"Content-Type": ctype} if ctype else {})
    check_response(resp, "random bytes")
    assert resp.status_code < 500


def test_unauthenticated_errors_have_the_shape(fuzz: FuzzEnv) -> None:
    for path in JSON_ENDPOINTS + UPLOAD_ENDPOINTS + ["/v1/models", "/v1/files/x", "/v1/fine_tuning/jobs/x"]:
        for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": b"\xff\xfe"}):
            resp = httpx.post(fuzz.url + path, content=b"{}", headers=headers)
            check_response(resp, "unauthenticated")
            assert resp.status_code in (401, 403, 405), (path, resp.status_code)
