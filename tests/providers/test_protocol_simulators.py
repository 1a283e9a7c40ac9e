"""The Anthropic and Gemini simulators behave like the protocol notes say the real APIs do.

They are the other reading of each protocol in every adapter test, so their own behaviour is
pinned here: auth, required fields, error shapes, event order and framing, and the fault knobs.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import orjson
import pytest

from relaygate.simulators.anthropic import AnthropicSimulator
from relaygate.simulators.gemini import GeminiSimulator

KEY = "sk-ant-test"
GKEY = "AIza-test"
HI = [{"role": "user", "content": "hi"}]
ANT_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def ant() -> Iterator[AnthropicSimulator]:
    with AnthropicSimulator(api_keys={KEY}).run_in_thread() as sim:
        yield sim


@pytest.fixture(scope="module")
def gem() -> Iterator[GeminiSimulator]:
    with GeminiSimulator(api_keys={GKEY}).run_in_thread() as sim:
        yield sim


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    for name in ("ant", "gem"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


def _post(sim: AnthropicSimulator, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/v1/messages", json=body, headers=ANT_HEADERS if headers is None else headers)


@pytest.mark.parametrize(("headers", "status", "etype", "message"), [
    ({"anthropic-version": "2023-06-01"}, 401, "authentication_error", "x-api-key header is required"),
    ({"x-api-key": "nope", "anthropic-version": "2023-06-01"}, 401, "authentication_error", "invalid x-api-key"),
    ({"x-api-key": KEY}, 400, "invalid_request_error", "anthropic-version: header is required"),
])
def test_anthropic_auth_and_version(ant, headers: dict, status: int, etype: str, message: str) -> None:  # type: ignore[no-untyped-def]
    resp = _post(ant, {"model": "m", "max_tokens": 5, "messages": HI}, headers)
    assert resp.status_code == status and resp.headers["request-id"].startswith("req_")
    assert resp.json()["type"] == "error" and resp.json()["error"] == {"type": etype, "message": message}


@pytest.mark.parametrize(("body", "message"), [
    ({"model": "m", "messages": HI}, "max_tokens: Field required"),
    ({"model": "m", "max_tokens": 5, "messages": HI, "n": 2}, "n: Extra inputs are not permitted"),
    ({"model": "m", "max_tokens": 5, "messages": HI, "temperature": 1.2}, "less than or equal to 1"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
     "text content blocks must be non-empty"),
    ({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": "no result"}]}, "`tool_use` ids were found without `tool_result` blocks"),
    ({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "x"}]}]},
     "unexpected `tool_use_id`"),
    ({"model": "m", "max_tokens": 5, "messages": [*HI, {"role": "assistant", "content": "trailing "}]},
     "trailing whitespace"),
    ({"model": "m", "max_tokens": 2000, "messages": HI, "thinking": {"type": "enabled", "budget_tokens": 1024},
      "tool_choice": {"type": "any"}, "tools": [{"name": "f", "input_schema": {"type": "object"}}]},
     "Thinking may not be enabled when tool_choice forces tool use."),
])
def test_anthropic_validation(ant, body: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    resp = _post(ant, body)
    assert resp.status_code == 400 and message in resp.json()["error"]["message"]


def test_anthropic_stream_event_order_and_usage(ant) -> None:  # type: ignore[no-untyped-def]
    ant.knobs.thinking = True
    ant.knobs.cache_read_tokens = 2
    with httpx.stream("POST", f"{ant.base_url}/v1/messages", headers=ANT_HEADERS, json={
            "model": "m", "max_tokens": 500, "stream": True, "messages": [{"role": "user", "content": "get_time"}],
            "tools": [{"name": "get_time", "input_schema": {"type": "object", "properties": {}}}]}) as resp:
        raw = resp.read().decode()
    events = [(b.split("\n")[0][7:], orjson.loads(b.split("\n")[1][6:])) for b in raw.split("\n\n") if b]
    assert all(name == data["type"] for name, data in events) and "[DONE]" not in raw
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    start_usage = events[0][1]["message"]["usage"]
    assert start_usage["output_tokens"] == 1 and start_usage["cache_read_input_tokens"] == 2
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] > 1
    first_json = next(d for n, d in events if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta")
    assert first_json["delta"]["partial_json"] == ""


def test_anthropic_faults(ant) -> None:  # type: ignore[no-untyped-def]
    client = anthropic.Anthropic(base_url=ant.base_url, api_key=KEY, max_retries=0)
    ant.knobs.fail_next, ant.knobs.fail_status, ant.knobs.retry_after = 1, 529, 3
    with pytest.raises(anthropic.OverloadedError) as exc:
        client.messages.create(model="m", max_tokens=5, messages=HI)
    assert exc.value.response.headers["retry-after"] == "3"
    assert client.messages.create(model="m", max_tokens=5, messages=HI).content
    ant.knobs.stream_error_after = 1
    with pytest.raises(anthropic.APIStatusError) as mid, \
            client.messages.stream(model="m", max_tokens=100, messages=HI) as stream:
        for _ in stream.text_stream:
            pass
    assert mid.value.body["error"]["type"] == "overloaded_error"
    seen = ant.requests[0].headers  # SDK versions differ: x-api-key or Bearer, the API takes both
    assert len(ant.requests) == 3 and KEY in (seen.get("x-api-key"), seen.get("authorization", "")[7:])


def test_anthropic_stop_sequences_and_count_tokens(ant) -> None:  # type: ignore[no-untyped-def]
    client = anthropic.Anthropic(base_url=ant.base_url, api_key=KEY, max_retries=0)
    full = client.messages.create(model="m", max_tokens=200, messages=HI).content[0].text
    word = full.split()[2]
    cut = client.messages.create(model="m", max_tokens=200, messages=HI, stop_sequences=[word])
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == word and word not in cut.content[0].text
    assert client.messages.count_tokens(model="m", messages=HI).input_tokens == \
        client.messages.create(model="m", max_tokens=5, messages=HI).usage.input_tokens


def _gem(sim: GeminiSimulator, body: dict, method: str = "generateContent", **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
    headers = kw.pop("headers", {"x-goog-api-key": GKEY})
    return httpx.post(f"{sim.base_url}/v1beta/models/gemini-2.5-flash:{method}", json=body, headers=headers, **kw)


CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(("headers", "params", "status", "state"), [
    ({}, {}, 403, "PERMISSION_DENIED"),
    ({"x-goog-api-key": "bad"}, {}, 400, "INVALID_ARGUMENT"),
])
def test_gemini_auth(gem, headers: dict, params: dict, status: int, state: str) -> None:  # type: ignore[no-untyped-def]
    resp = _gem(gem, CONTENTS, headers=headers, params=params)
    assert resp.status_code == status and resp.json()["error"]["status"] == state
    assert _gem(gem, CONTENTS, headers={}, params={"key": GKEY}).status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    ({"contents": []}, "contents is not specified"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role: user, model"),
    ({"contents": [{"role": "user", "parts": []}]}, "parts must not be empty"),
    ({**CONTENTS, "generationConfig": {"max_tokens": 5}}, 'Unknown name "maxTokens"'),
    ({**CONTENTS, "generationConfig": {"temperature": 3}}, "[0, 2]"),
    ({**CONTENTS, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object",
                                                                                     "properties": {"a": {}}}}]}]},
     "Type), \"object\""),
    ({**CONTENTS, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}]},
     "should be non-empty for OBJECT type"),
    ({**CONTENTS, "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}},
     "only when the mode is ANY"),
])
def test_gemini_validation(gem, body: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    resp = _gem(gem, body)
    assert resp.status_code == 400 and message in resp.json()["error"]["message"]


def test_gemini_snake_case_is_accepted_and_stream_framing(gem) -> None:  # type: ignore[no-untyped-def]
    snake = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generation_config": {"max_output_tokens": 2}}
    assert _gem(gem, snake).json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    with httpx.stream("POST", f"{gem.base_url}/v1beta/models/g:streamGenerateContent", params={"alt": "sse"},
                      headers={"x-goog-api-key": GKEY}, json=CONTENTS) as resp:
        raw = resp.read()
    assert resp.headers["content-type"].startswith("text/event-stream") and raw.endswith(b"\r\n\r\n")
    chunks = [orjson.loads(e[6:]) for e in raw.split(b"\r\n\r\n") if e]
    assert "finishReason" not in chunks[0]["candidates"][0] and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] >= chunks[0]["usageMetadata"]["candidatesTokenCount"]
    array = _gem(gem, CONTENTS, "streamGenerateContent")
    assert array.headers["content-type"].startswith("application/json") and len(array.json()) == len(chunks)


def test_gemini_function_calls_faults_and_count(gem) -> None:  # type: ignore[no-untyped-def]
    body = {"contents": [{"role": "user", "parts": [{"text": "any"}]}], "tools": [{"functionDeclarations": [
        {"name": "f", "parameters": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    cand = _gem(gem, body).json()["candidates"][0]
    assert cand["finishReason"] == "STOP" and cand["content"]["parts"] == [{"functionCall": {"name": "f",
                                                                                              "args": {"n": 1}}}]
    gem.knobs.fail_next, gem.knobs.fail_status, gem.knobs.retry_after = 1, 429, 7
    err = _gem(gem, CONTENTS).json()["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED" and err["details"][-1]["retryDelay"] == "7s"
    gem.knobs.block_prompt = "SAFETY"
    blocked = _gem(gem, CONTENTS).json()
    assert "candidates" not in blocked and blocked["promptFeedback"]["blockReason"] == "SAFETY"
    assert _gem(gem, CONTENTS, "countTokens").json() == {"totalTokens": 1}
