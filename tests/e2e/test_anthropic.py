"""Claude behind the OpenAI API: official openai SDK -> gateway -> simulated Anthropic Messages API.

What a user must not be able to tell: text, tool calls, finish reasons, streaming parity, usage
and errors look like OpenAI's; the upstream meanwhile received well-formed Messages requests
(the simulator validates them the way the real API does).
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import ANTHROPIC_KEY
from tests.e2e.streams import WEATHER, read_stream
from tests.gateway import Gateway, micro, unique_model

TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _channel(gw: Gateway, sim, models: list[str], **fields):  # type: ignore[no-untyped-def]
    return gw.channel(sim.base_url, models, keys=[ANTHROPIC_KEY], type="anthropic", **fields)


@pytest.fixture()
def claude(gateway: Gateway, anthropic_sim):  # type: ignore[no-untyped-def]
    model = unique_model("claude-3-5-sonnet")
    channel = _channel(gateway, anthropic_sim, [model])
    gateway.price(model, "3.00", "15.00")
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


def test_text_reply_request_mapping_usage_and_bill(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, channel = claude
    client = gw.client(key["key"])
    reply = client.chat.completions.create(model=model, user="end-user-7", temperature=1.7, top_p=0.9,
                                           stop=["zzz-never"], messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello"},
        {"role": "user", "content": "and goodbye"},
        {"role": "developer", "content": "Answer in English."},
    ])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    assert reply.object == "chat.completion" and reply.choices[0].message.role == "assistant"
    seen = anthropic_sim.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY and seen.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen.headers
    body = seen.json
    assert body["system"] == [{"type": "text", "text": "You are terse."},
                              {"type": "text", "text": "Answer in English."}]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Say hello"},
                                                             {"type": "text", "text": "and goodbye"}]}]
    assert body["max_tokens"] == 8192  # claude-3-5-sonnet's default output limit: Anthropic requires one
    assert body["temperature"] == 1.0 and body["top_p"] == 0.9 and body["stop_sequences"] == ["zzz-never"]
    assert body["metadata"] == {"user_id": "end-user-7"}
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    [rec] = gw.logs(key_id=key["id"])
    assert rec["channel_id"] == channel["id"] and rec["status_code"] == 200 and rec["usage_source"] == "upstream"
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    expected = -(-(usage.prompt_tokens * 3_000_000 + usage.completion_tokens * 15_000_000) // 1_000_000)
    assert micro(rec["cost"]) == expected
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - expected


def test_max_tokens_from_request_or_price_override(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    client.chat.completions.create(model=model, max_completion_tokens=321, messages=[{"role": "user", "content": "x"}])
    assert anthropic_sim.requests[-1].json["max_tokens"] == 321
    gw.price(model, "3.00", "15.00", max_output_tokens=1234)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert anthropic_sim.requests[-1].json["max_tokens"] == 1234


def test_length_finish_and_stop_sequence(claude) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    short = client.chat.completions.create(model=model, max_tokens=3, messages=[{"role": "user", "content": "talk"}])
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3
    full = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "talk"}])
    word = full.choices[0].message.content.split()[3]
    cut = client.chat.completions.create(model=model, stop=word, messages=[{"role": "user", "content": "talk"}])
    assert cut.choices[0].finish_reason == "stop"
    assert full.choices[0].message.content.startswith(cut.choices[0].message.content)
    assert word not in cut.choices[0].message.content


def test_stream_parity_usage_only_when_asked_and_same_cost(claude) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Tell me about relays"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    text, _, finish, usage, _ = read_stream(client, model=model, messages=messages)
    assert text == whole.choices[0].message.content and finish == "stop" and usage is None
    text, _, _, usage, _ = read_stream(client, model=model, messages=messages, stream_options={"include_usage": True})
    assert text == whole.choices[0].message.content
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    records = gw.logs(key_id=key["id"])
    assert len(records) == 3 and {r["usage_source"] for r in records} == {"upstream"}
    assert len({r["cost"] for r in records}) == 1 and [r["stream"] for r in records].count(True) == 2


def test_vision_data_url_and_http_url(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    reply = gw.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in these images?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]}])
    assert reply.choices[0].message.content
    [msg] = anthropic_sim.requests[-1].json["messages"]
    assert msg["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_tools_parallel_calls_stream_indexes_and_round_trip(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Use get_weather and get_time for Paris"}]
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER, TIME])
    calls = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "example city"}
    assert all(c.id.startswith("toolu_") and c.type == "function" for c in calls)
    sent = anthropic_sim.requests[-1].json
    assert sent["tools"][0] == {"name": "get_weather", "description": "Weather for a city",
                                "input_schema": WEATHER["function"]["parameters"]}
    assert sent["tool_choice"] == {"type": "auto"}
    # Claude writes a text block before the tool_use blocks: the tool call indexes must still be 0, 1
    _, _, finish, _, streamed = read_stream(client, model=model, messages=messages, tools=[WEATHER, TIME])
    assert finish == "tool_calls"
    assert [(s["id"], s["name"], s["arguments"]) for s in streamed] == \
        [(c.id, c.function.name, c.function.arguments) for c in calls]
    follow = client.chat.completions.create(model=model, tools=[WEATHER, TIME], messages=[
        *messages,
        {"role": "assistant", "content": whole.choices[0].message.content,
         "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21C"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "14:05"},
    ])
    assert follow.choices[0].finish_reason == "stop"
    assert "get_weather returned sunny, 21C" in follow.choices[0].message.content
    turns = anthropic_sim.requests[-1].json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert [b["type"] for b in turns[2]["content"]] == ["tool_result", "tool_result"]  # one user turn


@pytest.mark.parametrize(("choice", "expected", "names"), [
    ("required", {"type": "any"}, ["get_weather"]),
    ({"type": "function", "function": {"name": "get_time"}}, {"type": "tool", "name": "get_time"}, ["get_time"]),
    ("none", {"type": "none"}, []),
])
def test_tool_choice_mapping(claude, anthropic_sim, choice, expected, names) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, tools=[WEATHER, TIME], tool_choice=choice, messages=[{"role": "user", "content": "hello"}])
    assert anthropic_sim.requests[-1].json["tool_choice"] == expected
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == names


def test_parallel_tool_calls_false(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, tools=[WEATHER, TIME], parallel_tool_calls=False,
        messages=[{"role": "user", "content": "get_weather and get_time please"}])
    assert anthropic_sim.requests[-1].json["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert len(reply.choices[0].message.tool_calls) == 1


def test_legacy_functions(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "call get_weather"}]
    reply = client.chat.completions.create(model=model, messages=messages, functions=[WEATHER["function"]],
                                           function_call={"name": "get_weather"})
    assert reply.choices[0].finish_reason == "function_call"
    call = reply.choices[0].message.function_call
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "example city"}
    follow = client.chat.completions.create(model=model, functions=[WEATHER["function"]], messages=[
        *messages, {"role": "assistant", "content": None, "function_call": call.model_dump()},
        {"role": "function", "name": "get_weather", "content": "rainy"}])
    assert "get_weather returned rainy" in follow.choices[0].message.content


def test_json_schema_and_json_object_are_emulated(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    messages = [{"role": "user", "content": "Describe a person"}]
    reply = client.chat.completions.create(model=model, messages=messages, response_format=fmt)
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls
    assert json.loads(reply.choices[0].message.content) == {"name": "example name", "age": 1}
    sent = anthropic_sim.requests[-1].json
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert sent["tools"][0]["input_schema"] == schema
    text, _, finish, _, calls = read_stream(client, model=model, messages=messages, response_format=fmt)
    assert json.loads(text) == json.loads(reply.choices[0].message.content) and finish == "stop" and not calls
    loose = client.chat.completions.create(model=model, messages=messages, response_format={"type": "json_object"})
    assert isinstance(json.loads(loose.choices[0].message.content), dict)


def test_thinking_is_exposed_as_reasoning_content(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = claude
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Think first"}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=4000, reasoning_effort="low")
    sent = anthropic_sim.requests[-1].json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    reasoning = whole.choices[0].message.model_extra["reasoning_content"]
    assert reasoning.startswith("Let me think") and whole.choices[0].message.content
    text, streamed_reasoning, _, _, _ = read_stream(client, model=model, messages=messages, max_tokens=4000,
                                                reasoning_effort="low")
    assert (text, streamed_reasoning) == (whole.choices[0].message.content, reasoning)


def test_cache_tokens_are_reported_and_priced_separately(gateway: Gateway, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("claude-sonnet-4")
    _channel(gateway, anthropic_sim, [model])
    gateway.price(model, "3.00", "15.00", cache_read="0.30", cache_write="3.75")
    _user, key = gateway.funded_key()
    anthropic_sim.knobs.cache_read_tokens = 20
    anthropic_sim.knobs.cache_write_tokens = 10
    client = gateway.client(key["key"])
    long = [{"role": "user", "content": "A long shared prefix " * 20}]
    reply = client.chat.completions.create(model=model, messages=long)
    assert anthropic_sim.requests[-1].json["max_tokens"] == 64000
    details = reply.usage.prompt_tokens_details
    assert details.cached_tokens == 20 and details.cache_write_tokens == 10
    _, _, _, usage, _ = read_stream(client, model=model, messages=long, stream_options={"include_usage": True})
    assert usage.prompt_tokens == reply.usage.prompt_tokens and usage.prompt_tokens_details.cached_tokens == 20
    for rec in gateway.logs(key_id=key["id"]):
        assert (rec["cache_read_tokens"], rec["cache_write_tokens"]) == (20, 10)
        plain = rec["prompt_tokens"] - 30
        raw = plain * 3_000_000 + 20 * 300_000 + 10 * 3_750_000 + rec["completion_tokens"] * 15_000_000
        assert micro(rec["cost"]) == -(-raw // 1_000_000)


def test_rate_limit_and_overload_errors_and_failover(gateway: Gateway, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("claude-3-5-haiku")
    _channel(gateway, anthropic_sim, [model])
    gateway.price(model)
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    anthropic_sim.knobs.fail_next, anthropic_sim.knobs.fail_status, anthropic_sim.knobs.retry_after = 5, 429, 9
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert rate.value.response.headers.get("retry-after") == "9"
    anthropic_sim.reset()
    anthropic_sim.knobs.fail_next, anthropic_sim.knobs.fail_status = 5, 529
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert overloaded.value.status_code == 503 and overloaded.value.code == "overloaded"
    assert "Overloaded" in overloaded.value.message
    # 529 is retryable: a second channel serving the model takes over
    anthropic_sim.reset()
    second = _channel(gateway, anthropic_sim, [model], priority=-1)
    anthropic_sim.knobs.fail_next, anthropic_sim.knobs.fail_status = 1, 529
    assert client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}]).choices
    assert gateway.logs(key_id=key["id"])[0]["channel_id"] == second["id"]


def test_bad_channel_key_unknown_model_and_unsupported_input(gateway: Gateway, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("claude-3-opus")
    gateway.channel(anthropic_sim.base_url, [model], keys=["sk-ant-wrong"], type="anthropic")
    gateway.price(model)
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    with pytest.raises(openai.APIStatusError) as auth:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert auth.value.status_code == 502 and auth.value.code == "upstream_auth_failed"
    with pytest.raises(openai.BadRequestError) as audio:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}])
    assert "audio" in audio.value.message
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=model, n=2, messages=[{"role": "user", "content": "hi"}])


def test_upstream_400_comes_back_as_400(gateway: Gateway) -> None:  # type: ignore[no-untyped-def]
    from relaygate.simulators.anthropic import AnthropicSimulator

    with AnthropicSimulator(api_keys={ANTHROPIC_KEY}, models={"claude-3-5-sonnet-real"}).run_in_thread() as sim:
        public = unique_model("claude-3-5-sonnet")
        gateway.channel(sim.base_url, [], keys=[ANTHROPIC_KEY], type="anthropic",
                        model_mapping={public: "claude-3-5-sonnet-missing"})
        gateway.price(public)
        _user, key = gateway.funded_key()
        with pytest.raises(openai.NotFoundError) as missing:
            gateway.client(key["key"]).chat.completions.create(model=public,
                                                               messages=[{"role": "user", "content": "x"}])
        assert missing.value.code == "model_not_found"
        assert sim.requests[-1].json["model"] == "claude-3-5-sonnet-missing"


def test_error_event_mid_stream_ends_cleanly_and_bills_what_was_sent(claude, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = claude
    anthropic_sim.knobs.stream_error_after = 4
    received = ""
    with pytest.raises(openai.APIError) as exc:
        for chunk in gw.client(key["key"]).chat.completions.create(
                model=model, stream=True, messages=[{"role": "user", "content": "Tell me a story"}]):
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert "Overloaded" in str(exc.value.message)
    assert received and len(received.split()) == 4
    [rec] = gw.logs(key_id=key["id"])
    assert rec["status_code"] >= 500 and rec["outcome"] == "upstream_error"
    assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] >= 4, "prompt from message_start, output relayed"
    assert micro(rec["cost"]) > 0
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - micro(rec["cost"])
