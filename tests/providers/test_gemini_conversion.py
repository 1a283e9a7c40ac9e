"""OpenAI <-> Gemini conversion, table-driven from real payload shapes (protocol notes §2-§6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.providers.base import ChatRequest, UpstreamFailure, Usage
from relaygate.providers.gemini import GeminiAdapter
from relaygate.providers.gemini.errors import gemini_error
from relaygate.providers.gemini.request import build_body
from relaygate.providers.gemini.schema import to_gemini
from relaygate.state.snapshot import ChannelInfo

ADAPTER = GeminiAdapter()
USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}


def req(body: dict[str, Any], stream: bool = False, wants_usage: bool = False, limit: int = 8192) -> ChatRequest:
    return ChatRequest(body={"model": "g", **body}, model="g", stream=stream, wants_usage=wants_usage,
                       upstream_model="gemini-2.5-flash", output_limit=limit)


def channel(base_url: str = "https://generativelanguage.googleapis.com", **config: Any) -> ChannelInfo:
    return ChannelInfo(id=1, name="g", type="gemini", base_url=base_url, keys=("k",), models=frozenset(),
                       model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1, status="enabled",
                       config=config, timeout_s=None)


REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("user turn; maxOutputTokens always sent", {"messages": [USER]},
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 8192}}),
    ("system/developer -> systemInstruction; assistant -> model; same roles merged",
     {"messages": [{"role": "system", "content": "A"}, USER, {"role": "user", "content": "more"},
                   {"role": "assistant", "content": "ok"}, {"role": "developer", "content": "B"}]},
     {"systemInstruction": {"parts": [{"text": "A"}, {"text": "B"}]},
      "contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "more"}]},
                   {"role": "model", "parts": [{"text": "ok"}]}]}),
    ("sampling, limits, stop, n and penalties in camelCase",
     {"messages": [USER], "temperature": 1.5, "top_p": 0.9, "max_completion_tokens": 77, "stop": "END", "n": 2,
      "presence_penalty": 0.5, "frequency_penalty": 0.1, "seed": 9, "user": "dropped"},
     {"generationConfig": {"temperature": 1.5, "topP": 0.9, "maxOutputTokens": 77, "stopSequences": ["END"],
                           "candidateCount": 2, "presencePenalty": 0.5, "frequencyPenalty": 0.1, "seed": 9}}),
    ("images and audio inline", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklG"}},
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.jpeg"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}}]}]},
     {"contents": [{"role": "user", "parts": [
         {"inlineData": {"mimeType": "image/webp", "data": "UklG"}},
         {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.jpeg"}},
         {"inlineData": {"mimeType": "audio/mp3", "data": "AAAA"}}]}]}),
    ("tool calls and results matched by name through the call id",
     {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [CALL]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "[1, 2]"},
                   {"role": "user", "content": "ok?"}]},
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                   {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                                                                    "response": {"content": [1, 2]}}},
                                              {"text": "ok?"}]}]}),
    ("tools and a named tool_choice",
     {"messages": [USER], "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {
         "type": "object", "properties": {"a": {"type": "integer"}}}}}],
      "tool_choice": {"type": "function", "function": {"name": "f"}}},
     {"tools": [{"functionDeclarations": [{"name": "f", "description": "d", "parameters": {
         "type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}}]}],
      "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}}),
    ("json_object", {"messages": [USER], "response_format": {"type": "json_object"}},
     {"generationConfig": {"maxOutputTokens": 8192, "responseMimeType": "application/json"}}),
    ("reasoning_effort none switches thinking off", {"messages": [USER], "reasoning_effort": "none"},
     {"generationConfig": {"maxOutputTokens": 8192, "thinkingConfig": {"thinkingBudget": 0,
                                                                       "includeThoughts": False}}}),
]


@pytest.mark.parametrize(("name", "body", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_conversion(name: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = build_body(req(body), {})
    for key, value in expected.items():
        assert out[key] == value, key


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "object", "properties": {"a": {"type": "string", "format": "email"}}, "additionalProperties": False,
      "$schema": "http://json-schema.org/draft-07/schema#", "required": ["a", "ghost"]},
     {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["a"]}),
    ({"type": ["integer", "null"], "format": "int64", "minimum": 0}, {"type": "INTEGER", "nullable": True,
                                                                       "format": "int64", "minimum": 0}),
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"nullable": True, "type": "STRING"}),
    ({"oneOf": [{"type": "string"}, {"type": "number"}]}, {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}),
    ({"const": "x"}, {"enum": ["x"], "type": "STRING"}),
    ({"type": "object", "properties": {"p": {"$ref": "#/$defs/P"}}, "$defs": {"P": {"type": "array", "items": {
        "type": "boolean"}}}},
     {"type": "OBJECT", "properties": {"p": {"type": "ARRAY", "items": {"type": "BOOLEAN"}}}}),
])
def test_schema_conversion(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_gemini(schema) == expected


def test_urls_and_key_header() -> None:
    up = ADAPTER.build_chat(channel(), "AIza", req({"messages": [USER]}))
    assert up.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert up.headers["x-goog-api-key"] == "AIza" and "key=" not in up.url
    stream = ADAPTER.build_chat(channel("https://proxy.test/v1", api_version="v1"), "k", req({"messages": [USER]},
                                                                                            stream=True))
    assert stream.url == "https://proxy.test/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    safety = orjson.loads(ADAPTER.build_chat(channel(safety_threshold="BLOCK_NONE"), "k",
                                             req({"messages": [USER]})).body)["safetySettings"]
    assert {s["threshold"] for s in safety} == {"BLOCK_NONE"} and len(safety) == 5


@pytest.mark.parametrize(("body", "fragment"), [
    ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "nope"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}, "URL"),
    ({"messages": [USER], "tools": [{"type": "custom", "custom": {"name": "x"}}]}, "function tools"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]},
     "was not downloaded"),  # the relay inlines these before building; never sent as fileData
])
def test_unconvertible_requests(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UpstreamFailure) as exc:
        build_body(req(body), {})
    assert exc.value.error.status == 400 and fragment in exc.value.error.message


NOTES_RESPONSE = {  # protocol notes §3
    "candidates": [{"content": {"role": "model", "parts": [{"text": "It is sunny."}]}, "finishReason": "STOP",
                    "index": 0, "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                   "probability": "NEGLIGIBLE"}], "avgLogprobs": -0.12}],
    "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17,
                      "cachedContentTokenCount": 4, "thoughtsTokenCount": 3, "toolUsePromptTokenCount": 1},
    "modelVersion": "gemini-2.5-flash", "responseId": "abc123",
}


def test_whole_response_and_usage() -> None:
    raw, usage = ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(NOTES_RESPONSE))
    out = orjson.loads(raw)
    assert out["id"] == "chatcmpl-abc123" and out["model"] == "gemini-2.5-flash"
    assert out["choices"][0]["message"]["content"] == "It is sunny." and out["choices"][0]["finish_reason"] == "stop"
    assert usage == Usage(prompt_tokens=13, completion_tokens=8, cache_read_tokens=4)
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}


@pytest.mark.parametrize(("reason", "parts", "finish"), [
    ("STOP", [{"functionCall": {"name": "f", "args": {"a": 1}}}], "tool_calls"),
    ("STOP", [{"text": "x"}], "stop"), ("MAX_TOKENS", [{"text": "x"}], "length"),
    ("SAFETY", [], "content_filter"), ("RECITATION", [{"text": "x"}], "content_filter"),
    ("MALFORMED_FUNCTION_CALL", [], "stop"), ("OTHER", [{"text": "x"}], "stop"),
])
def test_finish_reasons(reason: str, parts: list, finish: str) -> None:
    data = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason, "index": 0}]}
    choice = orjson.loads(ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(data))[0])["choices"][0]
    assert choice["finish_reason"] == finish
    if parts and "functionCall" in parts[0]:
        assert choice["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
        assert choice["message"]["tool_calls"][0]["id"].startswith("call_")


def test_blocked_prompt_is_a_content_filter_answer() -> None:
    data = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}
    raw, usage = ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(data))
    choice = orjson.loads(raw)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] == ""
    assert usage == Usage(prompt_tokens=4)


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


STREAM = _sse(
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hmm", "thought": True}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}, "responseId": "r1"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "It is "}]}, "index": 0}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "sunny."}]}, "finishReason": "STOP",
                     "index": 0}],
     "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 4, "thoughtsTokenCount": 1,
                       "totalTokenCount": 12}, "modelVersion": "gemini-2.5-flash"},
)


@pytest.mark.parametrize("piece", [1, 5, 33, 100_000])
def test_stream_text_thoughts_usage_and_done(piece: int) -> None:
    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True, wants_usage=True))
    out = b"".join(relay.feed(STREAM[i:i + piece]) for i in range(0, len(STREAM), piece))
    events = [e[6:] for e in out.decode().split("\n\n") if e]
    assert events[-1] == "[DONE]" and relay.done
    chunks = [orjson.loads(e) for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content") or "" for d in deltas) == "It is sunny."
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Hmm"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    assert relay.usage == Usage(prompt_tokens=7, completion_tokens=5)
    assert all(c["id"] == "chatcmpl-r1" for c in chunks)


def test_stream_function_calls_and_error_event() -> None:
    calls = _sse({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "a", "args": {}}}, {"functionCall": {"name": "b", "args": {"x": 1}}}]},
        "finishReason": "STOP", "index": 0}]})
    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True))
    events = [orjson.loads(e[6:]) for e in relay.feed(calls).decode().split("\n\n") if e and "[DONE]" not in e]
    tool_calls = [tc for e in events for tc in e["choices"][0]["delta"].get("tool_calls") or ()]
    assert [(t["index"], t["function"]["name"], t["function"]["arguments"]) for t in tool_calls] == \
        [(0, "a", "{}"), (1, "b", '{"x":1}')]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls" and relay.done
    broken = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True))
    out = broken.feed(STREAM.split(b"\r\n\r\n")[1] + b"\r\n\r\n" + _sse(
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}))
    assert b'"code":"overloaded"' in out and out.endswith(b"data: [DONE]\n\n")
    assert broken.error is not None and broken.error.status == 503 and not broken.done
    assert broken.completion_text() == "It is "


def _google(status: int, state: str, message: str, details: list | None = None) -> bytes:
    err: dict[str, Any] = {"code": status, "message": message, "status": state}
    if details:
        err["details"] = details
    return orjson.dumps({"error": err})


@pytest.mark.parametrize(("status", "body", "expected"), [
    (400, _google(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]),
     (502, "upstream_auth_failed", True, None)),
    (400, _google(400, "INVALID_ARGUMENT", "Unknown name \"x\""), (400, None, False, None)),
    (403, _google(403, "PERMISSION_DENIED", "denied"), (502, "upstream_auth_failed", True, None)),
    (404, _google(404, "NOT_FOUND", "models/x is not found"), (404, "model_not_found", False, None)),
    (429, _google(429, "RESOURCE_EXHAUSTED", "quota", [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}]),
     (429, "rate_limit_exceeded", True, "26")),
    (503, _google(503, "UNAVAILABLE", "The model is overloaded."), (503, "overloaded", True, None)),
    (500, b"oops", (500, None, True, None)),
])
def test_errors(status: int, body: bytes, expected: tuple) -> None:
    err = gemini_error(status, body)
    assert (err.status, err.code, err.retryable, err.retry_after) == expected


@pytest.mark.parametrize(("url", "inline"), [
    ("https://example.com/cat.png", True), ("http://example.com/cat.png?x=1", True),
    ("https://generativelanguage.googleapis.com/v1beta/files/abc123", False), ("gs://bucket/cat.jpeg", False),
    ("https://generativelanguage.googleapis.com.evil.test/x.png", True), ("data:image/png;base64,AAAA", False),
    ("ftp://example.com/cat.png", False),
])
def test_which_urls_the_relay_must_inline(url: str, inline: bool) -> None:
    assert ADAPTER.must_inline(url) is inline
