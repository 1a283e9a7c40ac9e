"""OpenAI <-> Anthropic conversion, table-driven from real payload shapes (protocol notes §3-§6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.providers.anthropic import AnthropicAdapter
from relaygate.providers.anthropic.errors import native_error, upstream_error
from relaygate.providers.anthropic.request import build_body
from relaygate.providers.anthropic.usage import usage_from_anthropic
from relaygate.providers.base import ChatRequest, UpstreamFailure, Usage
from relaygate.state.snapshot import ChannelInfo

ADAPTER = AnthropicAdapter()


def req(body: dict[str, Any], stream: bool = False, wants_usage: bool = False, limit: int = 4096) -> ChatRequest:
    body = {"model": "claude-x", **body}
    return ChatRequest(body=body, model="claude-x", stream=stream, wants_usage=wants_usage,
                       upstream_model="claude-up", output_limit=limit)


def channel(base_url: str = "https://api.anthropic.com", **config: Any) -> ChannelInfo:
    return ChannelInfo(id=1, name="c", type="anthropic", base_url=base_url, keys=("k",), models=frozenset(),
                       model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1, status="enabled",
                       config=config, timeout_s=None)


USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
CALL2 = {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}

REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain user turn, default max_tokens", {"messages": [USER]},
     {"model": "claude-up", "max_tokens": 4096, "messages": [{"role": "user", "content": "hi"}]}),
    ("one system message stays a string", {"messages": [{"role": "system", "content": "Be terse."}, USER]},
     {"system": "Be terse."}),
    ("system and developer messages anywhere are hoisted as blocks",
     {"messages": [{"role": "system", "content": "A"}, USER, {"role": "developer", "content": [
         {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}]}]},
     {"system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}],
      "messages": [{"role": "user", "content": "hi"}]}),
    ("consecutive same-role messages merge",
     {"messages": [USER, {"role": "user", "content": "again"}]},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}]}),
    ("caller limits win; stop string becomes a list; user -> metadata; temperature clamped",
     {"messages": [USER], "max_tokens": 50, "stop": "END", "user": "u1", "temperature": 1.5, "top_p": 0.5,
      "seed": 1, "presence_penalty": 0.2, "logprobs": True},
     {"max_tokens": 50, "stop_sequences": ["END"], "metadata": {"user_id": "u1"}, "temperature": 1.0, "top_p": 0.5}),
    ("images: data URL -> base64 block, https -> url block",
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "look"},
         {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,QUJD"}},
         {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "look"},
         {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
         {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]}),
    ("assistant tool_calls -> tool_use; tool messages -> one user turn of tool_results, before user text",
     {"messages": [USER, {"role": "assistant", "content": "Checking.", "tool_calls": [CALL, CALL2]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                   {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
                   {"role": "user", "content": "thanks"}]},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": [
                       {"type": "text", "text": "Checking."},
                       {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                       {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}}]},
                   {"role": "user", "content": [
                       {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                       {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
                       {"type": "text", "text": "thanks"}]}]}),
    ("assistant without content or calls is dropped; first assistant turn gets a user turn in front",
     {"messages": [{"role": "assistant", "content": "Hello!"}, {"role": "assistant", "content": None}, USER]},
     {"messages": [{"role": "user", "content": "."}, {"role": "assistant", "content": "Hello!"},
                   {"role": "user", "content": "hi"}]}),
    ("a final assistant prefill loses trailing whitespace",
     {"messages": [USER, {"role": "assistant", "content": "The answer is "}]},
     {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "The answer is"}]}),
    ("tools and tool_choice auto", {"messages": [USER], "tools": [TOOL], "tool_choice": "auto"},
     {"tools": [{"name": "get_weather", "input_schema": TOOL["function"]["parameters"]}],
      "tool_choice": {"type": "auto"}}),
    ("tool_choice required -> any, parallel off", {"messages": [USER], "tools": [TOOL], "tool_choice": "required",
                                                   "parallel_tool_calls": False},
     {"tool_choice": {"type": "any", "disable_parallel_tool_use": True}}),
    ("named tool_choice", {"messages": [USER], "tools": [TOOL],
                           "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
     {"tool_choice": {"type": "tool", "name": "get_weather"}}),
    ("tool without parameters gets an empty object schema",
     {"messages": [USER], "tools": [{"type": "function", "function": {"name": "now"}}]},
     {"tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]}),
    ("legacy functions and their calls/results share a made-up id",
     {"messages": [USER, {"role": "assistant", "content": None,
                          "function_call": {"name": "get_weather", "arguments": "{}"}},
                   {"role": "function", "name": "get_weather", "content": "rain"}],
      "functions": [TOOL["function"]], "function_call": {"name": "get_weather"}},
     {"tool_choice": {"type": "tool", "name": "get_weather"},
      "messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_fn_1_get_weather",
                                                      "name": "get_weather", "input": {}}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_fn_1_get_weather",
                                                 "content": "rain"}]}]}),
    ("json_schema -> forced tool with the schema",
     {"messages": [USER], "response_format": {"type": "json_schema", "json_schema": {
         "name": "p", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}},
     {"tools": [{"name": "json_response", "description": "Give the answer as JSON matching the input schema (p).",
                 "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}],
      "tool_choice": {"type": "tool", "name": "json_response"}}),
    ("reasoning_effort -> thinking budget below max_tokens, sampling dropped",
     {"messages": [USER], "reasoning_effort": "high", "max_tokens": 10000, "temperature": 0.2},
     {"thinking": {"type": "enabled", "budget_tokens": 9999}, "max_tokens": 10000}),
    ("streams ask for a stream", {"messages": [USER], "stream": True}, {"stream": True}),
]


@pytest.mark.parametrize(("name", "body", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_conversion(name: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = build_body(req(body, stream=bool(body.get("stream"))))
    for key, value in expected.items():
        assert out[key] == value, key
    assert "temperature" not in out or "reasoning_effort" not in body
    assert not set(out) - {"model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k",
                           "stop_sequences", "tools", "tool_choice", "metadata", "stream", "thinking"}


@pytest.mark.parametrize(("body", "fragment"), [
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]}, "audio"),
    ({"messages": [USER], "n": 3}, "n > 1"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}]}]},
     "base64"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,A"}}]}]}, "image/bmp"),
    ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "At least one"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
])
def test_unconvertible_requests_are_the_callers_400(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UpstreamFailure) as exc:
        build_body(req(body))
    assert exc.value.error.status == 400 and fragment in exc.value.error.message
    assert exc.value.error.retryable and not exc.value.error.channel_fault  # another channel type may serve it


def test_url_headers_and_config() -> None:
    up = ADAPTER.build_chat(channel(anthropic_version="2024-01-01", anthropic_beta="prompt-caching-2024-07-31"),
                            "sk-ant", req({"messages": [USER]}))
    assert up.url == "https://api.anthropic.com/v1/messages"
    assert up.headers["x-api-key"] == "sk-ant" and up.headers["anthropic-version"] == "2024-01-01"
    assert up.headers["anthropic-beta"] == "prompt-caching-2024-07-31" and "Authorization" not in up.headers
    assert ADAPTER.build_chat(channel("https://proxy.test/v1"), "k", req({"messages": [USER]})).url == \
        "https://proxy.test/v1/messages"


# --- whole responses ----------------------------------------------------------------------------------------

NOTES_MESSAGE = {  # protocol notes §3, verbatim shape
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                 "input": {"city": "Paris"}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 472, "output_tokens": 91, "cache_creation_input_tokens": 5,
              "cache_read_input_tokens": 100, "cache_creation": {"ephemeral_5m_input_tokens": 5,
                                                                 "ephemeral_1h_input_tokens": 0},
              "service_tier": "standard"},
}


def test_whole_message_with_tool_use_and_cache_usage() -> None:
    raw, usage = ADAPTER.parse_chat(req({"messages": [USER], "tools": [TOOL]}), orjson.dumps(NOTES_MESSAGE))
    out = orjson.loads(raw)
    assert out["object"] == "chat.completion" and out["model"] == "claude-sonnet-4-5-20250929"
    [choice] = out["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    assert choice["message"]["tool_calls"] == [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                                                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
    assert usage == Usage(prompt_tokens=577, completion_tokens=91, cache_read_tokens=100, cache_write_tokens=5)
    assert out["usage"] == {"prompt_tokens": 577, "completion_tokens": 91, "total_tokens": 668,
                            "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 5}}


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter"),
    ("pause_turn", "stop"), ("model_context_window_exceeded", "length"), ("something_new", "stop"),
])
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    msg = {**NOTES_MESSAGE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    out = orjson.loads(ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(msg))[0])
    assert out["choices"][0]["finish_reason"] == finish


def test_thinking_json_mode_and_legacy_replies() -> None:
    thinking = {**NOTES_MESSAGE, "stop_reason": "end_turn", "content": [
        {"type": "thinking", "thinking": "Hmm.", "signature": "sig"}, {"type": "text", "text": "42"}]}
    message = orjson.loads(ADAPTER.parse_chat(req({"messages": [USER]}), orjson.dumps(thinking))[0])
    assert message["choices"][0]["message"]["reasoning_content"] == "Hmm."
    assert message["choices"][0]["message"]["content"] == "42"
    forced = {**NOTES_MESSAGE, "content": [{"type": "tool_use", "id": "t", "name": "json_response",
                                            "input": {"a": 1}}]}
    json_req = req({"messages": [USER], "response_format": {"type": "json_object"}})
    choice = orjson.loads(ADAPTER.parse_chat(json_req, orjson.dumps(forced))[0])["choices"][0]
    assert choice["message"]["content"] == '{"a":1}' and choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    legacy = req({"messages": [USER], "functions": [TOOL["function"]]})
    choice = orjson.loads(ADAPTER.parse_chat(legacy, orjson.dumps(NOTES_MESSAGE))[0])["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"type": "message"}'])
def test_malformed_answers_are_a_retryable_channel_fault(body: bytes) -> None:
    with pytest.raises(UpstreamFailure) as exc:
        ADAPTER.parse_chat(req({"messages": [USER]}), body)
    assert exc.value.error.status == 502 and exc.value.error.retryable and exc.value.error.channel_fault


# --- streams -----------------------------------------------------------------------------------------------

NOTES_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type":"ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}

event: message_stop
data: {"type":"message_stop"}

"""  # noqa: E501

TOOL_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":40,"cache_read_input_tokens":8,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}

event: message_stop
data: {"type":"message_stop"}

"""  # noqa: E501


def run_stream(raw: bytes, request: ChatRequest, piece: int) -> tuple[list[Any], Any]:
    relay = ADAPTER.stream_relay(request)
    out = b"".join(relay.feed(raw[i:i + piece]) for i in range(0, len(raw), piece))
    events = [e[6:] for e in out.decode().split("\n\n") if e]
    return [e if e == "[DONE]" else orjson.loads(e) for e in events], relay


@pytest.mark.parametrize("piece", [1, 7, 64, 100_000])
@pytest.mark.parametrize("crlf", [False, True])
def test_text_stream_from_the_notes(piece: int, crlf: bool) -> None:
    raw = NOTES_STREAM.replace(b"\n", b"\r\n") if crlf else NOTES_STREAM
    events, relay = run_stream(raw, req({"messages": [USER]}, stream=True, wants_usage=True), piece)
    assert events[-1] == "[DONE]" and relay.done and relay.error is None
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Hello!"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "msg_1" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 25
    assert relay.usage == Usage(prompt_tokens=25, completion_tokens=15)  # message_delta kept the input count
    assert relay.completion_text() == "Hello!"


def test_tool_stream_indexes_count_tool_calls_not_blocks() -> None:
    events, relay = run_stream(TOOL_STREAM, req({"messages": [USER]}, stream=True), 13)
    calls = [tc for e in events if e != "[DONE]" and e["choices"]
             for tc in e["choices"][0]["delta"].get("tool_calls") or ()]
    assert calls[0] == {"index": 0, "id": "toolu_a", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    assert "".join(c["function"]["arguments"] for c in calls if c["index"] == 0) == '{"city": "Paris"}'
    assert [c["index"] for c in calls if "id" in c] == [0, 1]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert not any(e != "[DONE]" and not e["choices"] for e in events), "usage chunk only when asked"
    assert relay.usage == Usage(prompt_tokens=48, completion_tokens=30, cache_read_tokens=8)


def test_error_event_mid_stream() -> None:
    raw = NOTES_STREAM.split(b"event: content_block_stop")[0] + (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')
    events, relay = run_stream(raw, req({"messages": [USER]}, stream=True), 50)
    assert events[-2] == {"error": {"message": "Overloaded", "type": "server_error", "param": None,
                                    "code": "overloaded"}}
    assert events[-1] == "[DONE]"
    assert relay.error is not None and relay.error.status == 503 and not relay.done
    assert relay.usage == Usage(prompt_tokens=25, completion_tokens=1)  # from message_start
    assert relay.completion_text() == "Hello!"


def test_thinking_and_json_mode_streams() -> None:
    raw = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c","usage":'
           b'{"input_tokens":3,"output_tokens":1}}}\n\n'
           b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
           b'{"type":"thinking","thinking":"","signature":""}}\n\n'
           b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
           b'{"type":"thinking_delta","thinking":"Hmm"}}\n\n'
           b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
           b'{"type":"signature_delta","signature":"abc"}}\n\n'
           b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":'
           b'{"type":"tool_use","id":"t","name":"json_response","input":{}}}\n\n'
           b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":'
           b'{"type":"input_json_delta","partial_json":"{\\"a\\": 1}"}}\n\n'
           b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},'
           b'"usage":{"output_tokens":9}}\n\n'
           b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    json_req = req({"messages": [USER], "response_format": {"type": "json_object"}}, stream=True)
    events, _ = run_stream(raw, json_req, 11)
    deltas = [e["choices"][0]["delta"] for e in events if e != "[DONE]" and e["choices"]]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Hmm"
    assert "".join(d.get("content") or "" for d in deltas) == '{"a": 1}'
    assert not any("tool_calls" in d for d in deltas)
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


# --- errors and usage -------------------------------------------------------------------------------------

def _err(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})


@pytest.mark.parametrize(("status", "body", "expected"), [
    (400, _err("invalid_request_error", "max_tokens: Field required"),
     (400, "invalid_request_error", None, False, False)),
    (401, _err("authentication_error", "invalid x-api-key"),
     (502, "upstream_error", "upstream_auth_failed", True, True)),
    (403, _err("permission_error", "no"), (502, "upstream_error", "upstream_auth_failed", True, True)),
    (404, _err("not_found_error", "model: x"), (404, "invalid_request_error", "model_not_found", False, False)),
    (429, _err("rate_limit_error", "slow down"), (429, "requests", "rate_limit_exceeded", True, False)),
    (500, _err("api_error", "boom"), (500, "server_error", None, True, True)),
    (529, _err("overloaded_error", "Overloaded"), (503, "server_error", "overloaded", True, True)),
    (502, b"<html>bad gateway</html>", (502, "upstream_error", None, True, True)),
])
def test_errors_for_openai_callers(status: int, body: bytes, expected: tuple) -> None:
    err = upstream_error(status, body)
    assert (err.status, err.type, err.code, err.retryable, err.channel_fault) == expected
    assert err.message


def test_native_errors_keep_anthropic_status_and_type() -> None:
    err = native_error(529, _err("overloaded_error", "Overloaded"))
    assert (err.status, err.type, err.message, err.retryable) == (529, "overloaded_error", "Overloaded", True)
    err = native_error(400, _err("invalid_request_error", "messages: Field required"))
    assert (err.status, err.type, err.retryable) == (400, "invalid_request_error", False)


@pytest.mark.parametrize(("usage", "previous", "expected"), [
    ({"input_tokens": 10, "output_tokens": 2}, None, Usage(10, 2)),
    ({"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 5, "output_tokens": 1},
     None, Usage(105, 1, 90, 5)),
    ({"output_tokens": 50}, Usage(105, 1, 90, 5), Usage(105, 50, 90, 5)),
    ({"input_tokens": 12, "output_tokens": 50}, Usage(105, 1, 90, 5), Usage(107, 50, 90, 5)),
    (None, Usage(3, 1), Usage(3, 1)),
])
def test_usage_reading(usage: Any, previous: Usage | None, expected: Usage) -> None:
    assert usage_from_anthropic(usage, previous) == expected
