"""OpenAI <-> Spark WebSocket conversion: versions, signed URL, request frame, answer frames, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from relaygate.providers.base import ChatRequest, UpstreamFailure, Usage
from relaygate.providers.spark import SparkAdapter
from relaygate.providers.spark.auth import signed_url, split_key
from relaygate.providers.spark.errors import parse_error, spark_error
from relaygate.providers.spark.request import build_frame, version_of, ws_url
from relaygate.state.snapshot import ChannelInfo

ADAPTER = SparkAdapter()
USER = {"role": "user", "content": "hi"}
KEY = "app1|secret-1|key-1"


def req(body: dict[str, Any], model: str = "spark-v3.5", stream: bool = False,
        wants_usage: bool = False) -> ChatRequest:
    return ChatRequest(body={"model": model, **body}, model=model, stream=stream, wants_usage=wants_usage,
                       upstream_model=model)


def channel(base_url: str = "https://spark-api.xf-yun.com", **config: Any) -> ChannelInfo:
    return ChannelInfo(id=3, name="s", type="spark", base_url=base_url, keys=(KEY,), models=frozenset(),
                       model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1, status="enabled",
                       config=config, timeout_s=None)


@pytest.mark.parametrize(("model", "path", "domain"), [
    ("spark-v1.5", "/v1.1/chat", "lite"), ("spark-lite", "/v1.1/chat", "lite"),
    ("spark-v2.0", "/v2.1/chat", "generalv2"), ("spark-v3.0", "/v3.1/chat", "generalv3"),
    ("spark-pro", "/v3.1/chat", "generalv3"), ("spark-pro-128k", "/chat/pro-128k", "pro-128k"),
    ("Spark-v3.5", "/v3.5/chat", "generalv3.5"), ("spark-max", "/v3.5/chat", "generalv3.5"),
    ("spark-max-32k", "/chat/max-32k", "max-32k"), ("spark-4.0-ultra", "/v4.0/chat", "4.0Ultra"),
    ("spark-v9.1", "/v9.1/chat", "generalv9.1"),
])
def test_versions(model: str, path: str, domain: str) -> None:
    assert version_of(model, {}) == (path, domain)


def test_version_override_unknown_model_and_urls() -> None:
    config = {"versions": {"my-ft": {"path": "/v1.1/chat", "domain": "patch-123"}}}
    assert version_of("my-ft", config) == ("/v1.1/chat", "patch-123")
    with pytest.raises(UpstreamFailure):
        version_of("gpt-4o", {})
    assert ws_url("https://spark-api.xf-yun.com", "/v3.5/chat") == "wss://spark-api.xf-yun.com/v3.5/chat"
    assert ws_url("http://127.0.0.1:9", "/v3.5/chat") == "ws://127.0.0.1:9/v3.5/chat"
    up = ADAPTER.build_chat(channel(), KEY, req({"messages": [USER]}))
    assert up.url == "wss://spark-api.xf-yun.com/v3.5/chat" and up.method == "GET"


def test_signed_url_matches_the_documented_recipe() -> None:
    date = "Tue, 22 Nov 2025 02:04:05 GMT"
    url = signed_url("wss://spark-api.xf-yun.com/v3.5/chat", "key-1", "secret-1", date)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(query) == {"authorization", "date", "host"} and query["date"] == date
    assert query["host"] == "spark-api.xf-yun.com" and "+" in parts.query  # spaces as '+', as url.Values does
    origin = "host: spark-api.xf-yun.com\ndate: Tue, 22 Nov 2025 02:04:05 GMT\nGET /v3.5/chat HTTP/1.1"
    sig = base64.b64encode(hmac.new(b"secret-1", origin.encode(), hashlib.sha256).digest()).decode()
    assert base64.b64decode(query["authorization"]).decode() == (
        f'api_key="key-1", algorithm="hmac-sha256", headers="host date request-line", signature="{sig}"')
    local = urlsplit(signed_url("ws://127.0.0.1:8123/v1.1/chat", "k", "s", date))
    assert parse_qs(local.query)["host"] == ["127.0.0.1:8123"]  # the port is part of the signed host


@pytest.mark.parametrize("key", ["", "a|b", "a||c", "a|b|c|d"])
def test_key_must_have_three_parts(key: str) -> None:
    with pytest.raises(UpstreamFailure) as info:
        split_key(key)
    assert info.value.error.code == "channel_misconfigured"


FRAMES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("system kept on 3.5, temperature and limits mapped", "spark-v3.5",
     {"messages": [{"role": "system", "content": "S"}, USER], "temperature": 0, "max_tokens": 20000, "user": "u" * 40,
      "top_k": 3},
     {"header": {"app_id": "app1", "uid": "u" * 32},
      "parameter": {"chat": {"domain": "generalv3.5", "temperature": 0.01, "max_tokens": 8192, "top_k": 3}},
      "payload": {"message": {"text": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]}}}),
    ("system folded into the first question on lite; lite's smaller limit", "spark-v1.5",
     {"messages": [{"role": "system", "content": "S"}, USER, {"role": "assistant", "content": "A"},
                   {"role": "user", "content": "Q"}], "temperature": 1.5, "max_tokens": 5000},
     {"header": {"app_id": "app1"}, "parameter": {"chat": {"domain": "lite", "temperature": 1.0, "max_tokens": 4096}},
      "payload": {"message": {"text": [{"role": "user", "content": "S\n\nhi"}, {"role": "assistant", "content": "A"},
                                       {"role": "user", "content": "Q"}]}}}),
    ("tools -> payload.functions; tool history as text", "spark-v3.5",
     {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [
         {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "42"}],
      "tools": [{"type": "function", "function": {"name": "f", "description": "F", "parameters": {"type": "object"}}}]},
     {"header": {"app_id": "app1"}, "parameter": {"chat": {"domain": "generalv3.5"}},
      "payload": {"message": {"text": [USER, {"role": "assistant", "content": "(called f with {})"},
                                       {"role": "user", "content": "f returned: 42"}]},
                  "functions": {"text": [{"name": "f", "description": "F", "parameters": {"type": "object"}}]}}}),
]


@pytest.mark.parametrize(("name", "model", "body", "expected"), FRAMES, ids=[f[0] for f in FRAMES])
def test_request_frame(name: str, model: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert build_frame(req(body, model), "app1", version_of(model, {})[1]) == expected


def test_functions_refused_where_unsupported() -> None:
    with pytest.raises(UpstreamFailure) as info:
        build_frame(req({"messages": [USER], "functions": [{"name": "f"}]}, "spark-v2.0"), "app1", "generalv2")
    assert info.value.error.status == 400 and info.value.error.retryable


def _frame(status: int, text: str = "", usage: dict[str, Any] | None = None, call: dict[str, Any] | None = None,
           code: int = 0) -> dict[str, Any]:
    if code:
        return {"header": {"code": code, "message": "bad", "sid": "cht1", "status": 2}}
    item: dict[str, Any] = {"content": text, "role": "assistant", "index": 0}
    if call is not None:
        item.update({"content_type": "function_call", "function_call": call})
    frame: dict[str, Any] = {"header": {"code": 0, "message": "Success", "sid": "cht1", "status": status},
                             "payload": {"choices": {"status": status, "seq": 0, "text": [item]}}}
    if usage is not None:
        frame["payload"]["usage"] = {"text": usage}
    return frame


USAGE = {"question_tokens": 4, "prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
ANSWER = [_frame(0, "你好，"), _frame(1, "有什么"), _frame(2, "可以帮你？", USAGE)]


def test_whole_answer_from_frames() -> None:
    out, usage = ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(ANSWER))
    data = orjson.loads(out)
    assert data["id"] == "chatcmpl-cht1" and data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["content"] == "你好，有什么可以帮你？"
    assert data["choices"][0]["finish_reason"] == "stop" and usage == Usage(5, 9)
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    strings = [*ANSWER[:2], _frame(2, "x", {k: str(v) for k, v in USAGE.items()})]
    assert ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(strings))[1] == Usage(5, 9)


def test_whole_answer_call_filter_and_errors() -> None:
    call = [_frame(2, "", USAGE, call={"name": "get_weather", "arguments": '{"city":"Hefei"}'})]
    data = orjson.loads(ADAPTER.parse_chat(req({"messages": [USER], "tools": [{"type": "function", "function": {
        "name": "get_weather"}}]}), orjson.dumps(call))[0])
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                                          "arguments": '{"city":"Hefei"}'}
    filtered = [_frame(0, "a"), _frame(2, code=10014)]
    data = orjson.loads(ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(filtered))[0])
    assert data["choices"][0]["finish_reason"] == "content_filter" and data["choices"][0]["message"]["content"] == "a"
    with pytest.raises(UpstreamFailure) as info:
        ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps([_frame(0, "a"), _frame(2, code=11202)]))
    assert info.value.error.status == 429
    with pytest.raises(UpstreamFailure):
        ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(ANSWER[:2]))  # no last frame


def _chunks(raw: bytes) -> list[Any]:
    return [("[DONE]" if e[6:] == b"[DONE]" else orjson.loads(e[6:])) for e in raw.split(b"\n\n") if e]


@pytest.mark.parametrize("wants_usage", [False, True])
def test_stream_relay_one_frame_per_feed(wants_usage: bool) -> None:
    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True, wants_usage=wants_usage))
    chunks = _chunks(b"".join(relay.feed(orjson.dumps(f)) for f in ANSWER))
    assert chunks[-1] == "[DONE]" and relay.done and relay.error is None and relay.usage == Usage(5, 9)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"])
    assert text == "你好，有什么可以帮你？" == relay.completion_text()
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"]][-1] == "stop"
    assert any("usage" in c for c in chunks[:-1]) is wants_usage


def test_stream_relay_filter_and_error_frames() -> None:
    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True))
    relay.feed(orjson.dumps(ANSWER[0]))
    tail = _chunks(relay.feed(orjson.dumps(_frame(2, code=10014))))
    assert tail[-2]["choices"][0]["finish_reason"] == "content_filter" and relay.done and relay.error is None
    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True))
    relay.feed(orjson.dumps(ANSWER[0]))
    tail = _chunks(relay.feed(orjson.dumps(_frame(2, code=10012))))
    assert tail[0]["error"]["code"] == "10012" and tail[-1] == "[DONE]" and relay.error is not None


@pytest.mark.parametrize(("code", "status", "retryable", "err_code"), [
    (10013, 400, False, "content_filter"), (10019, 400, False, "content_filter"),
    (10907, 400, False, "context_length_exceeded"), (10005, 400, False, "10005"),
    (11202, 429, True, "rate_limit_exceeded"), (10007, 429, True, "rate_limit_exceeded"),
    (11201, 429, True, "upstream_quota_exceeded"), (11200, 502, True, "upstream_auth_failed"),
    (10016, 502, True, "upstream_auth_failed"), (10110, 429, True, "rate_limit_exceeded"),
    (10008, 503, True, "overloaded"), (10012, 500, True, "10012"),
])
def test_error_codes(code: int, status: int, retryable: bool, err_code: str) -> None:
    err = spark_error(code, "m")
    assert (err.status, err.retryable, err.code) == (status, retryable, err_code)


def test_handshake_refusals_are_channel_credential_errors() -> None:
    err = parse_error(401, b'{"message":"HMAC signature cannot be verified"}')
    assert err.status == 502 and err.code == "upstream_auth_failed" and err.channel_fault
    assert "HMAC signature cannot be verified" in err.message and "clock" in err.message
    assert parse_error(500, orjson.dumps(_frame(2, code=10012))).code == "10012"
