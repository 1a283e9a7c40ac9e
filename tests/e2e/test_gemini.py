"""Gemini behind the OpenAI API: official openai SDK -> gateway -> simulated Generative Language API."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conftest import GEMINI_KEY
from tests.e2e.streams import read_stream
from tests.gateway import Gateway, micro, unique_model

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": ["string", "null"], "enum": ["c", "f", None]}},
                   "required": ["city"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _channel(gw: Gateway, sim, models: list[str], **fields):  # type: ignore[no-untyped-def]
    return gw.channel(sim.base_url, models, keys=[GEMINI_KEY], type="gemini", **fields)


@pytest.fixture()
def gemini(gateway: Gateway, gemini_sim):  # type: ignore[no-untyped-def]
    model = unique_model("gemini-2.5-flash")
    channel = _channel(gateway, gemini_sim, [model])
    gateway.price(model, "0.30", "2.50")
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


def test_text_reply_request_mapping_usage_and_bill(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, channel = gemini
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, temperature=1.4, top_p=0.8, stop=["zzz"], seed=3, messages=[
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Again"}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    seen = gemini_sim.requests[-1]
    assert seen.path == f"/v1beta/models/{model}:generateContent" and not seen.query
    assert seen.headers["x-goog-api-key"] == GEMINI_KEY and "authorization" not in seen.headers
    body = seen.json
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"temperature": 1.4, "topP": 0.8, "seed": 3, "stopSequences": ["zzz"],
                                        "maxOutputTokens": 65536}  # gemini-2.5's output limit, as reserved
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    [rec] = gw.logs(key_id=key["id"])
    assert rec["channel_id"] == channel["id"] and rec["usage_source"] == "upstream"
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    expected = -(-(usage.prompt_tokens * 300_000 + usage.completion_tokens * 2_500_000) // 1_000_000)
    assert micro(rec["cost"]) == expected
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - expected


def test_stream_parity_usage_and_sse(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Tell me about rivers"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    text, _, finish, usage, _ = read_stream(client, model=model, messages=messages)
    assert text == whole.choices[0].message.content and finish == "stop" and usage is None
    assert gemini_sim.requests[-1].path.endswith(":streamGenerateContent")
    assert gemini_sim.requests[-1].query == {"alt": "sse"}
    text, _, _, usage, _ = read_stream(client, model=model, messages=messages, stream_options={"include_usage": True})
    assert text == whole.choices[0].message.content
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    records = gw.logs(key_id=key["id"])
    assert len(records) == 3 and all(r["status_code"] == 200 for r in records)
    assert len({r["cost"] for r in records}) == 1


def test_vision_inline_and_file_uris(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    file_uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123.png"
    gw.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
        {"type": "image_url", "image_url": {"url": file_uri}}]}])
    parts = gemini_sim.requests[-1].json["contents"][0]["parts"]
    assert parts == [{"text": "Describe"}, {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
                     {"fileData": {"mimeType": "image/png", "fileUri": file_uri}}]


def test_tools_round_trip_and_streamed_calls(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Use get_weather and get_time"}]
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER, TIME])
    assert whole.choices[0].finish_reason == "tool_calls"  # Gemini said STOP; the calls decide
    calls = whole.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "example city", "unit": "c"}
    assert all(c.id.startswith("call_") for c in calls) and len({c.id for c in calls}) == 2
    [decl_weather, decl_time] = gemini_sim.requests[-1].json["tools"][0]["functionDeclarations"]
    assert decl_weather["parameters"] == {"type": "OBJECT", "required": ["city"], "properties": {
        "city": {"type": "STRING"}, "unit": {"type": "STRING", "nullable": True, "enum": ["c", "f"]}}}
    assert "parameters" not in decl_time  # Gemini refuses OBJECT schemas without properties
    _, _, finish, _, streamed = read_stream(client, model=model, messages=messages, tools=[WEATHER, TIME])
    assert finish == "tool_calls"
    assert [(s["name"], s["arguments"]) for s in streamed] == [(c.function.name, c.function.arguments) for c in calls]
    follow = client.chat.completions.create(model=model, tools=[WEATHER, TIME], messages=[
        *messages, {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": calls[1].id, "content": "noon"}])
    assert follow.choices[0].finish_reason == "stop"
    assert 'get_weather returned {"temp":21}; get_time returned {"content":"noon"}' in follow.choices[0].message.content
    contents = gemini_sim.requests[-1].json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                                    {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}}]


@pytest.mark.parametrize(("choice", "config", "names"), [
    ("required", {"mode": "ANY"}, ["get_weather"]),
    ({"type": "function", "function": {"name": "get_time"}}, {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
     ["get_time"]),
    ("none", {"mode": "NONE"}, []),
])
def test_tool_choice_mapping(gemini, gemini_sim, choice, config, names) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, tools=[WEATHER, TIME], tool_choice=choice, messages=[{"role": "user", "content": "hello"}])
    assert gemini_sim.requests[-1].json["toolConfig"] == {"functionCallingConfig": config}
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == names


def test_legacy_functions(gemini) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "call get_weather"}], functions=[WEATHER["function"]])
    assert reply.choices[0].finish_reason == "function_call"
    assert reply.choices[0].message.function_call.name == "get_weather"


def test_json_schema_is_native(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {
        "type": "string"}}}, "required": ["name"], "additionalProperties": False, "$schema": "x"}
    reply = gw.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}})
    assert json.loads(reply.choices[0].message.content) == {"name": "example name", "tags": ["example tags"]}
    config = gemini_sim.requests[-1].json["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {"type": "OBJECT", "required": ["name"], "properties": {
        "name": {"type": "STRING"}, "tags": {"type": "ARRAY", "items": {"type": "STRING"}}}}


def test_finish_reasons_length_safety_and_blocked_prompt(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    client = gw.client(key["key"])
    hi = [{"role": "user", "content": "hi"}]
    short = client.chat.completions.create(model=model, messages=hi, max_tokens=3)
    assert short.choices[0].finish_reason == "length" and gemini_sim.requests[-1].json["generationConfig"][
        "maxOutputTokens"] == 3
    gemini_sim.knobs.finish_reason = "SAFETY"
    assert client.chat.completions.create(model=model, messages=hi).choices[0].finish_reason == "content_filter"
    _, _, finish, _, _ = read_stream(client, model=model, messages=hi)
    assert finish == "content_filter"
    gemini_sim.knobs.finish_reason = None
    gemini_sim.knobs.block_prompt = "PROHIBITED_CONTENT"
    blocked = client.chat.completions.create(model=model, messages=hi)
    assert blocked.choices[0].finish_reason == "content_filter" and not blocked.choices[0].message.content
    text, _, finish, _, _ = read_stream(client, model=model, messages=hi)
    assert (text, finish) == ("", "content_filter")


def test_thinking_and_several_candidates(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = gemini
    client = gw.client(key["key"])
    hi = [{"role": "user", "content": "think"}]
    whole = client.chat.completions.create(model=model, messages=hi, reasoning_effort="low")
    assert gemini_sim.requests[-1].json["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024,
                                                                                  "includeThoughts": True}
    reasoning = whole.choices[0].message.model_extra["reasoning_content"]
    assert reasoning.startswith("Thinking it over") and whole.usage.completion_tokens_details.reasoning_tokens > 0
    text, streamed, _, _, _ = read_stream(client, model=model, messages=hi, reasoning_effort="low")
    assert (text, streamed) == (whole.choices[0].message.content, reasoning)
    two = client.chat.completions.create(model=model, messages=hi, n=2)
    assert [c.index for c in two.choices] == [0, 1] and two.choices[0].message.content != two.choices[1].message.content
    assert gemini_sim.requests[-1].json["generationConfig"]["candidateCount"] == 2


def test_cached_tokens_priced_separately(gateway: Gateway, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("gemini-2.0-flash")
    _channel(gateway, gemini_sim, [model])
    gateway.price(model, "1.00", "4.00", cache_read="0.25")
    _user, key = gateway.funded_key()
    gemini_sim.knobs.cached_tokens = 5
    reply = gateway.client(key["key"]).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a fairly long prompt that was cached before"}])
    assert gemini_sim.requests[-1].json["generationConfig"]["maxOutputTokens"] == 8192
    assert reply.usage.prompt_tokens_details.cached_tokens == 5
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["cache_read_tokens"] == 5
    raw = (rec["prompt_tokens"] - 5) * 1_000_000 + 5 * 250_000 + rec["completion_tokens"] * 4_000_000
    assert micro(rec["cost"]) == -(-raw // 1_000_000)


def test_errors_rate_limit_overload_failover_auth_and_missing_model(gateway: Gateway, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("gemini-1.5-pro")
    _channel(gateway, gemini_sim, [model])
    gateway.price(model)
    _user, key = gateway.funded_key()
    client = gateway.client(key["key"])
    hi = [{"role": "user", "content": "hi"}]
    gemini_sim.knobs.fail_next, gemini_sim.knobs.fail_status, gemini_sim.knobs.retry_after = 5, 429, 26
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model=model, messages=hi)
    assert rate.value.response.headers.get("retry-after") == "26"  # from google.rpc.RetryInfo
    gemini_sim.reset()
    gemini_sim.knobs.fail_next, gemini_sim.knobs.fail_status = 5, 503
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(model=model, messages=hi)
    assert overloaded.value.status_code == 503 and "overloaded" in overloaded.value.message
    gemini_sim.reset()
    second = _channel(gateway, gemini_sim, [model], priority=-1)
    gemini_sim.knobs.fail_next, gemini_sim.knobs.fail_status = 1, 503
    assert client.chat.completions.create(model=model, messages=hi).choices[0].message.content
    assert gateway.logs(key_id=key["id"])[0]["channel_id"] == second["id"]
    bad = unique_model("gemini-2.5-pro")
    gateway.channel(gemini_sim.base_url, [bad], keys=["AIza-wrong"], type="gemini")
    gateway.price(bad)
    with pytest.raises(openai.APIStatusError) as auth:
        client.chat.completions.create(model=bad, messages=hi)
    assert auth.value.status_code == 502 and auth.value.code == "upstream_auth_failed"


def test_unknown_upstream_model_is_404(gateway: Gateway) -> None:  # type: ignore[no-untyped-def]
    from relaygate.simulators.gemini import GeminiSimulator

    with GeminiSimulator(api_keys={GEMINI_KEY}, models={"gemini-2.5-flash"}).run_in_thread() as sim:
        public = unique_model("gemini")
        gateway.channel(sim.base_url, [], keys=[GEMINI_KEY], type="gemini", model_mapping={public: "gemini-9"})
        gateway.price(public)
        _user, key = gateway.funded_key()
        with pytest.raises(openai.NotFoundError) as exc:
            gateway.client(key["key"]).chat.completions.create(model=public,
                                                               messages=[{"role": "user", "content": "x"}])
        assert "models/gemini-9 is not found" in exc.value.message
        assert sim.requests[-1].path == "/v1beta/models/gemini-9:generateContent"


def test_error_mid_stream_ends_cleanly_and_bills_what_was_sent(gemini, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = gemini
    gemini_sim.knobs.stream_error_after = 2
    received = ""
    with pytest.raises(openai.APIError) as exc:
        for chunk in gw.client(key["key"]).chat.completions.create(
                model=model, stream=True, messages=[{"role": "user", "content": "A story please"}]):
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert "overloaded" in str(exc.value.message)
    assert len(received.split()) == 8  # two chunks of four words made it
    [rec] = gw.logs(key_id=key["id"])
    assert rec["status_code"] == 503 and rec["outcome"] == "upstream_error"
    assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] >= 8 and micro(rec["cost"]) > 0
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - micro(rec["cost"])


@pytest.mark.parametrize("error_after", [None, 2])
def test_caller_closing_on_the_last_event_is_not_a_cancellation(gemini, gemini_sim, error_after) -> None:  # type: ignore[no-untyped-def]
    """An SDK closes its connection on [DONE] or an error event; the upstream's end of body may come later."""
    gw, model, _user, key, _ = gemini
    gemini_sim.knobs.linger_ms = 1500
    gemini_sim.knobs.stream_error_after = error_after
    client = gw.client(key["key"])
    if error_after is None:
        text, *_ = read_stream(client, model=model, messages=[{"role": "user", "content": "Rivers"}])
        assert len(text.split()) == 20
    else:
        with pytest.raises(openai.APIError):
            read_stream(client, model=model, messages=[{"role": "user", "content": "Rivers"}])
    [rec] = gw.logs(key_id=key["id"])
    want = (200, "ok") if error_after is None else (503, "upstream_error")
    assert (rec["status_code"], rec["outcome"]) == want
    assert rec["completion_tokens"] >= (20 if error_after is None else 8)
