"""The fake OpenAI / Azure upstream, exercised through the official ``openai`` SDK (and raw httpx
where the SDK would hide what is on the wire)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import bpe_openai
import httpx
import openai
import pytest

from relaygate.simulators.openai import Knobs, OpenAISimulator
from relaygate.simulators.openai.replies import stream_pieces
from relaygate.simulators.openai.toolcalls import arguments_json

KEY = "sk-sim-test-key-0001"
AZ_KEY = "az-key-123456"
AZ_VERSION = "2024-10-21"
HELLO = [{"role": "user", "content": "hello there"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 2},
                "detailed": {"type": "boolean"},
                "hours": {"type": "array", "items": {"type": "number"}},
                "where": {"type": "object", "properties": {"lat": {"type": "number"}}},
            },
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
ENC = bpe_openai.get_encoding("o200k_base")


def tok(text: str) -> int:
    return len(ENC.encode_ordinary(text))


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(api_keys={KEY}).run_in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def azure_sim() -> Iterator[OpenAISimulator]:
    with OpenAISimulator(
        api_keys={AZ_KEY}, mode="azure", deployments={"chat-prod": "gpt-4o-mini-2024-07-18"}
    ).run_in_thread() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    for name in ("sim", "azure_sim"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture
def client(sim: OpenAISimulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key=KEY, max_retries=0)


@pytest.fixture
def azure_client(azure_sim: OpenAISimulator) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=azure_sim.base_url, api_key=AZ_KEY, api_version=AZ_VERSION, max_retries=0
    )


def raw_post(sim: OpenAISimulator, body: Any, key: str | None = KEY, content: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if content is not None:
        return httpx.post(f"{sim.base_url}/chat/completions", content=content, headers=headers)
    return httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers)


def sse_data(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [block.removeprefix("data: ") for block in text.split("\n\n") if block.strip()]


def assert_openai_error(response: httpx.Response, status: int, code: str | None, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


# --- text replies ------------------------------------------------------------------------------


def test_text_reply_shape_and_usage(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert r.id.startswith("chatcmpl-") and r.object == "chat.completion"
    assert r.model == "gpt-4o-mini" and r.system_fingerprint.startswith("fp_")
    choice = r.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert len(choice.message.content.split()) == 20
    # prompt = 3 priming + (3 per message + role + content)
    assert r.usage.prompt_tokens == 3 + 3 + tok("user") + tok("hello there")
    assert r.usage.completion_tokens == tok(choice.message.content)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert r.usage.completion_tokens_details.reasoning_tokens == 0


def test_replies_are_deterministic_per_conversation(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, temperature=0.3)
    again = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    other = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "bye"}])
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_reply_words_max_tokens_n_and_stop(sim: OpenAISimulator, client: openai.OpenAI) -> None:
    sim.knobs.reply_words = 7
    r = client.chat.completions.create(model="m", messages=HELLO, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(len(c.message.content.split()) == 7 for c in r.choices)
    assert len({c.message.content for c in r.choices}) > 1
    assert r.usage.completion_tokens == sum(tok(c.message.content) for c in r.choices)

    sim.knobs.reply_words = 20
    cut = client.chat.completions.create(model="m", messages=HELLO, max_completion_tokens=5)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 5
    full = client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content
    assert full.startswith(cut.choices[0].message.content) and tok(cut.choices[0].message.content) == 5
    legacy = client.chat.completions.create(model="m", messages=HELLO, max_tokens=3)
    assert legacy.choices[0].finish_reason == "length" and legacy.usage.completion_tokens == 3

    third_word = full.split()[2]
    stopped = client.chat.completions.create(model="m", messages=HELLO, stop=[third_word])
    assert stopped.choices[0].message.content == full[: full.index(third_word)]
    assert stopped.choices[0].finish_reason == "stop"


def test_image_parts_are_accepted_and_counted(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    text_only = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "describe"}]}]
    )
    with_images = client.chat.completions.create(model="m", messages=[{"role": "user", "content": [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png"}},
    ]}])
    assert with_images.usage.prompt_tokens == text_only.usage.prompt_tokens + 85 + 765
    bad = raw_post(sim, {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@notbase64"}}]}]})
    assert_openai_error(bad, 400, "invalid_value", "messages[0].content[0].image_url.url")


def test_logprobs(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.reply_words = 6
    r = client.chat.completions.create(model="m", messages=HELLO, logprobs=True, top_logprobs=3)
    entries = r.choices[0].logprobs.content
    assert len(entries) == r.usage.completion_tokens
    assert "".join(e.token for e in entries) == r.choices[0].message.content
    assert all(len(e.top_logprobs) == 3 and e.logprob <= 0 and e.top_logprobs[0].token == e.token
               for e in entries)
    assert client.chat.completions.create(model="m", messages=HELLO).choices[0].logprobs is None


def test_unknown_fields_pass_and_are_recorded(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    r = client.chat.completions.create(
        model="m", messages=HELLO, extra_body={"x_vendor": {"a": 1}}, extra_headers={"X-Trace": "t1"}
    )
    assert r.choices[0].message.content
    seen = sim.requests[-1]
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.json["x_vendor"] == {"a": 1} and json.loads(seen.body)["model"] == "m"
    assert seen.headers["x-trace"] == "t1" and seen.headers["authorization"] == f"Bearer {KEY}"


# --- streaming ---------------------------------------------------------------------------------


def test_stream_parity_and_chunk_shape(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content
    chunks = list(client.chat.completions.create(model="m", messages=HELLO, stream=True))
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    deltas = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert "".join(deltas) == full and len(deltas) == 20
    last = chunks[-1].choices[0]
    assert last.finish_reason == "stop" and last.delta.content is None
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks)


def test_include_usage_chunk_only_when_asked(sim: OpenAISimulator) -> None:
    body = {"model": "m", "messages": HELLO, "stream": True}
    plain = raw_post(sim, body)
    assert plain.headers["content-type"].startswith("text/event-stream")
    data = sse_data(plain.text)
    assert data[-1] == "[DONE]"
    assert all("usage" not in json.loads(d) for d in data[:-1])

    asked = sse_data(raw_post(sim, {**body, "stream_options": {"include_usage": True}}).text)
    chunks = [json.loads(d) for d in asked[:-1]]
    assert asked[-1] == "[DONE]"
    assert all(c["usage"] is None for c in chunks[:-1])
    usage_chunk = chunks[-1]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] == tok(text)
    assert usage_chunk["usage"]["total_tokens"] == usage_chunk["usage"]["prompt_tokens"] + tok(text)


def test_stream_with_n_interleaves_choices(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="m", messages=HELLO, n=2)
    texts = {0: "", 1: ""}
    for chunk in client.chat.completions.create(model="m", messages=HELLO, n=2, stream=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {c.index: c.message.content for c in full.choices}


def test_trickle_flushes_each_chunk(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.reply_words = 5
    sim.knobs.trickle_ms = 40
    arrivals = [time.monotonic() for _ in client.chat.completions.create(model="m", messages=HELLO, stream=True)]
    assert len(arrivals) == 7
    assert arrivals[-1] - arrivals[0] >= 0.2  # 6 gaps of 40 ms, observed while the stream is open


# --- tool calls --------------------------------------------------------------------------------


def _calls(r: Any) -> list[tuple[str, dict]]:
    return [(c.function.name, json.loads(c.function.arguments)) for c in r.choices[0].message.tool_calls or []]


def test_tool_call_auto_single_and_schema_arguments(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "call get_weather please"}], tools=[WEATHER, TIME]
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls[0].id.startswith("call_")
    assert _calls(r) == [("get_weather", {"city": "example city", "unit": "celsius", "days": 2,
                                          "detailed": True, "hours": [1.5], "where": {"lat": 1.5}})]
    args = choice.message.tool_calls[0].function.arguments
    assert r.usage.completion_tokens == tok("get_weather") + tok(args)


def test_tool_call_auto_without_mention_answers_in_text(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="m", messages=HELLO, tools=[WEATHER])
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.tool_calls is None


def test_parallel_named_and_required_tool_choice(client: openai.OpenAI) -> None:
    both = [{"role": "user", "content": "use GET_TIME and get_weather"}]
    parallel = client.chat.completions.create(model="m", messages=both, tools=[WEATHER, TIME])
    assert [n for n, _ in _calls(parallel)] == ["get_weather", "get_time"]
    ids = [c.id for c in parallel.choices[0].message.tool_calls]
    assert len(set(ids)) == 2
    serial = client.chat.completions.create(model="m", messages=both, tools=[WEATHER, TIME],
                                            parallel_tool_calls=False)
    assert [n for n, _ in _calls(serial)] == ["get_weather"]
    named = client.chat.completions.create(
        model="m", messages=HELLO, tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert _calls(named) == [("get_time", {})]
    required = client.chat.completions.create(model="m", messages=HELLO, tools=[TIME, WEATHER],
                                              tool_choice="required")
    assert [n for n, _ in _calls(required)] == ["get_time"]
    none = client.chat.completions.create(model="m", messages=both, tools=[WEATHER], tool_choice="none")
    assert none.choices[0].message.tool_calls is None


def test_stream_tool_call_deltas_reassemble(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    messages = [{"role": "user", "content": "get_weather and get_time"}]
    full = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER, TIME])
    calls: dict[int, dict[str, str]] = {}
    fragments: dict[int, int] = {}
    finish = None
    for chunk in client.chat.completions.create(model="m", messages=messages, tools=[WEATHER, TIME], stream=True):
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not slot["id"], "id must only arrive on the first chunk of an index"
                slot["id"], slot["name"] = delta.id, delta.function.name
            slot["arguments"] += delta.function.arguments or ""
            fragments[delta.index] = fragments.get(delta.index, 0) + 1
    expected = {i: {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for i, c in enumerate(full.choices[0].message.tool_calls)}
    assert calls == expected and finish == "tool_calls"
    assert fragments[0] > 3  # arguments arrive in several fragments
    raw = sse_data(raw_post(sim, {"model": "m", "messages": messages, "tools": [WEATHER], "stream": True}).text)
    tool_deltas = [tc for d in raw[:-1] for tc in json.loads(d)["choices"][0]["delta"].get("tool_calls", [])]
    assert all("index" in tc for tc in tool_deltas)
    assert [("id" in tc, "type" in tc, "name" in tc["function"]) for tc in tool_deltas[:2]] == [
        (True, True, True), (False, False, False)]


def test_tool_results_are_quoted(client: openai.OpenAI) -> None:
    messages = [
        {"role": "user", "content": "get_weather in Paris"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]
    r = client.chat.completions.create(model="m", messages=messages, tools=[WEATHER])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content == 'According to the tool results: get_weather returned {"temp": 21}.'


def test_legacy_functions(client: openai.OpenAI) -> None:
    functions = [WEATHER["function"]]
    messages = [{"role": "user", "content": "what does get_weather say"}]
    r = client.chat.completions.create(model="m", messages=messages, functions=functions)
    choice = r.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.content is None
    assert choice.message.function_call.name == "get_weather"
    assert choice.message.function_call.arguments == arguments_json(WEATHER["function"]["parameters"])
    streamed = ""
    for chunk in client.chat.completions.create(model="m", messages=messages, functions=functions, stream=True):
        if chunk.choices[0].delta.function_call:
            streamed += chunk.choices[0].delta.function_call.arguments or ""
    assert streamed == choice.message.function_call.arguments
    forced = client.chat.completions.create(model="m", messages=HELLO, functions=functions,
                                            function_call={"name": "get_weather"})
    assert forced.choices[0].message.function_call.name == "get_weather"


def test_response_formats(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}}}
    r = client.chat.completions.create(model="m", messages=HELLO, response_format={
        "type": "json_schema", "json_schema": {"name": "out", "schema": schema}})
    assert json.loads(r.choices[0].message.content) == {"answer": "example answer", "score": 1}
    obj = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "reply in JSON"}],
                                         response_format={"type": "json_object"})
    assert set(json.loads(obj.choices[0].message.content)) == {"reply"}
    no_json_word = raw_post(sim, {"model": "m", "messages": HELLO, "response_format": {"type": "json_object"}})
    assert_openai_error(no_json_word, 400, None, "messages")


# --- errors and validation ---------------------------------------------------------------------


def test_bad_and_missing_key(sim: OpenAISimulator) -> None:
    bad = openai.OpenAI(base_url=sim.base_url, api_key="sk-wrongwrongwrong9876", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="m", messages=HELLO)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    message = caught.value.body["message"]
    assert message.startswith("Incorrect API key provided: sk-") and "9876" in message and "wrong" not in message
    missing = assert_openai_error(raw_post(sim, {"model": "m", "messages": HELLO}, key=None), 401, "invalid_api_key")
    assert missing["message"].startswith("You didn't provide an API key")


def test_unknown_model_when_restricted() -> None:
    with OpenAISimulator(api_keys={KEY}, models={"gpt-4o"}).run_in_thread() as restricted:
        c = openai.OpenAI(base_url=restricted.base_url, api_key=KEY, max_retries=0)
        with pytest.raises(openai.NotFoundError) as caught:
            c.chat.completions.create(model="gpt-9", messages=HELLO)
        assert caught.value.code == "model_not_found"
        assert caught.value.body["message"] == "The model `gpt-9` does not exist or you do not have access to it."
        assert c.chat.completions.create(model="gpt-4o", messages=HELLO).model == "gpt-4o"
        assert [m.id for m in c.models.list()] == ["gpt-4o"]
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("gpt-9")


def test_models_endpoints(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models]
    one = client.models.retrieve("anything-goes")
    assert (one.id, one.object, one.owned_by) == ("anything-goes", "model", "system")


def test_invalid_json_body(sim: OpenAISimulator) -> None:
    error = assert_openai_error(raw_post(sim, None, content=b'{"model": "m", "messages": ['), 400, None)
    assert error["type"] == "invalid_request_error" and "could not parse the JSON body" in error["message"]


@pytest.mark.parametrize(
    ("patch", "code", "param"),
    [
        ({"model": None}, None, None),
        ({"messages": []}, "empty_array", "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "invalid_value", "messages[0].role"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "missing_required_parameter", "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r", "tool_call_id": "c"}]},
         None, "messages.[1].role"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
         None, "messages.[1].role"),
        ({"stream_options": {"include_usage": True}}, None, "stream_options"),
        ({"n": 0}, "integer_below_min_value", "n"),
        ({"n": 129}, "integer_above_max_value", "n"),
        ({"max_tokens": 0}, "integer_below_min_value", "max_tokens"),
        ({"max_tokens": 16385}, "invalid_value", "max_tokens"),
        ({"max_completion_tokens": 20000}, "invalid_value", "max_completion_tokens"),
        ({"n": "2"}, "invalid_type", "n"),
        ({"temperature": 3}, "decimal_above_max_value", "temperature"),
        ({"tool_choice": "auto"}, None, "tool_choice"),
        ({"model": "o3-mini", "max_tokens": 10}, "unsupported_parameter", "max_tokens"),
    ],
)
def test_body_validation(sim: OpenAISimulator, patch: dict, code: str | None, param: str | None) -> None:
    body = {k: v for k, v in {"model": "m", "messages": HELLO, **patch}.items() if v is not None}
    assert_openai_error(raw_post(sim, body), 400, code, param)


def test_unknown_route_and_method(sim: OpenAISimulator) -> None:
    unknown = httpx.post(f"{sim.base_url}/nope", headers={"Authorization": f"Bearer {KEY}"})
    assert assert_openai_error(unknown, 404, None)["message"] == "Invalid URL (POST /v1/nope)"
    wrong = httpx.get(f"{sim.base_url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"})
    assert wrong.status_code == 405


# --- fault knobs -------------------------------------------------------------------------------


def test_fail_next_429_with_retry_after(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.fail_next, sim.knobs.fail_status, sim.knobs.retry_after = 2, 429, 7
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="m", messages=HELLO)
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.code == "rate_limit_exceeded" and set(caught.value.body) == {
            "message", "type", "param", "code"}
    assert client.chat.completions.create(model="m", messages=HELLO).choices[0].message.content
    assert sim.knobs.fail_next == 0 and len(sim.requests) == 3


def test_fail_next_default_500_and_custom_body(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.fail_next = 1
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=HELLO)
    assert caught.value.status_code == 500 and caught.value.type == "server_error"
    sim.knobs.fail_next, sim.knobs.fail_status, sim.knobs.fail_body = 1, 503, {"error": {"message": "custom"}}
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="m", messages=HELLO)
    assert caught.value.status_code == 503 and caught.value.message.endswith("custom")


def test_error_rate_is_seeded(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    def outcomes() -> list[bool]:
        sim.knobs.error_rate, sim.knobs.seed = 0.5, 42
        results = []
        for _ in range(12):
            try:
                client.chat.completions.create(model="m", messages=HELLO)
                results.append(True)
            except openai.InternalServerError:
                results.append(False)
        return results

    first = outcomes()
    sim.reset()
    assert outcomes() == first and True in first and False in first


def test_stream_cut_after_breaks_the_connection(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.stream_cut_after = 3
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="m", messages=HELLO, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert len(received) == 4  # role chunk + 3 content chunks, then the socket dies
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
        "POST", f"{sim.base_url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "m", "messages": HELLO, "stream": True},
    ) as response:
        lines = []
        for line in response.iter_lines():
            lines.append(line)
    assert "data: [DONE]" not in lines


def test_stream_error_after(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.stream_error_after = 2
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="m", messages=HELLO, stream=True):
            received.append(chunk)
    assert len(received) == 3 and "server had an error" in caught.value.message
    data = sse_data(raw_post(sim, {"model": "m", "messages": HELLO, "stream": True}).text)
    assert json.loads(data[-1])["error"]["type"] == "server_error" and "[DONE]" not in data


def test_hang_until_client_gives_up(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.hang = True
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model="m", messages=HELLO)
    assert time.monotonic() - started >= 0.3
    sim.knobs.hang = False
    assert client.chat.completions.create(model="m", messages=HELLO).choices


def test_latency(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.latency_ms = 150
    started = time.monotonic()
    client.chat.completions.create(model="m", messages=HELLO)
    assert time.monotonic() - started >= 0.15


def test_malformed_json(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.malformed_json = True
    response = raw_post(sim, {"model": "m", "messages": HELLO})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=HELLO)
    data = sse_data(raw_post(sim, {"model": "m", "messages": HELLO, "stream": True}).text)
    broken = []
    for payload in data[:-1]:
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            broken.append(payload)
    assert len(broken) == 1 and data[-1] == "[DONE]"


def test_omit_usage(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    sim.knobs.omit_usage = True
    assert client.chat.completions.create(model="m", messages=HELLO).usage is None
    chunks = list(client.chat.completions.create(model="m", messages=HELLO, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks and all(c.usage is None and c.choices for c in chunks)


# --- control plane and lifecycle ---------------------------------------------------------------


def test_control_plane(client: openai.OpenAI, sim: OpenAISimulator) -> None:
    root = sim.base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/__sim/knobs").json() == Knobs().to_dict()
    updated = httpx.post(f"{root}/__sim/knobs", json={"fail_next": 1, "fail_status": 429})
    assert updated.status_code == 200 and updated.json()["fail_next"] == 1
    assert (sim.knobs.fail_next, sim.knobs.fail_status) == (1, 429)
    assert httpx.post(f"{root}/__sim/knobs", json={"fail_nxt": 1}).status_code == 400
    assert httpx.post(f"{root}/__sim/knobs", json={"hang": "yes"}).status_code == 400
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=HELLO)
    log = httpx.get(f"{root}/__sim/requests").json()
    assert [(r["method"], r["path"], r["json"]["model"]) for r in log] == [("POST", "/v1/chat/completions", "m")]
    assert httpx.post(f"{root}/__sim/reset").json() == {"ok": True}
    assert sim.requests == [] and sim.knobs.fail_status == 500


async def test_async_lifecycle() -> None:
    async with OpenAISimulator(api_keys={KEY}) as running:
        aclient = openai.AsyncOpenAI(base_url=running.base_url, api_key=KEY, max_retries=0)
        r = await aclient.chat.completions.create(model="m", messages=HELLO)
        assert r.choices[0].message.content and running.requests[0].json["messages"] == HELLO
        await aclient.close()
    assert running.base_url.endswith("/v1")


def test_pure_helpers() -> None:
    for text in ["", "one", " lead and trail  ", "averyveryverylongwordthatkeepsgoing x"]:
        assert "".join(stream_pieces(text)) == text
    schema = {
        "type": "object",
        "$defs": {"Day": {"type": "string", "format": "date"}},
        "properties": {
            "day": {"$ref": "#/$defs/Day"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3, "maximum": 2}]},
            "tags": {"type": ["array", "null"], "items": {"const": "t"}, "minItems": 2},
            "label": {"type": "string", "maxLength": 4},
        },
    }
    assert json.loads(arguments_json(schema)) == {"day": "2024-01-01", "maybe": 2, "tags": ["t", "t"],
                                                  "label": "exam"}
    assert arguments_json(None) == "{}"
    knobs = Knobs(reply_words=5)
    with pytest.raises(ValueError):
        knobs.update({"latency_ms": True})
    knobs.update({"latency_ms": 3, "retry_after": None})
    knobs.reset()
    assert knobs.reply_words == 5 and knobs.latency_ms == 0


# --- Azure mode --------------------------------------------------------------------------------


def test_azure_chat_and_stream(azure_client: openai.AzureOpenAI, azure_sim: OpenAISimulator) -> None:
    r = azure_client.chat.completions.create(model="chat-prod", messages=HELLO)
    assert r.model == "gpt-4o-mini-2024-07-18" and r.choices[0].message.content
    seen = azure_sim.requests[-1]
    assert seen.path == "/openai/deployments/chat-prod/chat/completions"
    assert seen.query == {"api-version": AZ_VERSION} and seen.headers["api-key"] == AZ_KEY
    chunks = list(azure_client.chat.completions.create(model="chat-prod", messages=HELLO, stream=True))
    assert chunks[0].choices == []  # Azure's prompt-filter prelude
    assert "".join(c.choices[0].delta.content or "" for c in chunks[1:]) == r.choices[0].message.content


def test_azure_auth_routing_and_faults(azure_sim: OpenAISimulator) -> None:
    bad = openai.AzureOpenAI(azure_endpoint=azure_sim.base_url, api_key="nope", api_version=AZ_VERSION,
                             max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="chat-prod", messages=HELLO)
    assert caught.value.body == {"code": "401", "message": caught.value.body["message"]}
    assert "invalid subscription key" in caught.value.body["message"]
    good = openai.AzureOpenAI(azure_endpoint=azure_sim.base_url, api_key=AZ_KEY, api_version=AZ_VERSION,
                              max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        good.chat.completions.create(model="missing-deployment", messages=HELLO)
    assert caught.value.code == "DeploymentNotFound"
    url = f"{azure_sim.base_url}/openai/deployments/chat-prod/chat/completions"
    for query in ("", "?api-version=1999-01-01"):
        nf = httpx.post(url + query, json={"messages": HELLO}, headers={"api-key": AZ_KEY})
        assert (nf.status_code, nf.json()) == (404, {"error": {"code": "404", "message": "Resource not found"}})
    bearer = httpx.post(f"{url}?api-version={AZ_VERSION}", json={"messages": HELLO},
                        headers={"Authorization": f"Bearer {AZ_KEY}"})
    assert bearer.status_code == 200 and bearer.json()["prompt_filter_results"]
    azure_sim.knobs.fail_next, azure_sim.knobs.fail_status, azure_sim.knobs.retry_after = 1, 429, 3
    with pytest.raises(openai.RateLimitError) as caught:
        good.chat.completions.create(model="chat-prod", messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "3"
    assert "Please retry after 3 seconds" in caught.value.body["message"]
