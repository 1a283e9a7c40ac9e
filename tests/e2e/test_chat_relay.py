"""The OpenAI chat relay end to end: official SDK -> gateway -> simulated OpenAI upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.gateway import Gateway, micro, unique_model

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
                                                                                 "properties": {}}}}


@pytest.fixture()
def setup(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    gateway.price(model, "1.00", "2.00")
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key


def test_non_stream_reply_usage_and_record(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key = setup
    client = gw.client(key["key"])
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello"}])
    reply = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    # the upstream saw our model and the channel key, never the caller's key
    seen = sim.requests[-1]
    assert seen.json["model"] == model
    assert seen.headers["authorization"] == "Bearer sk-sim-1"
    [rec] = gw.logs(key_id=key["id"])
    assert rec["request_id"] == request_id
    assert rec["prompt_tokens"] == reply.usage.prompt_tokens
    assert rec["completion_tokens"] == reply.usage.completion_tokens
    assert rec["status_code"] == 200 and rec["stream"] is False and rec["model"] == model
    # $1 per 1M input, $2 per 1M output, rounded up to the micro-unit
    expected = -(-(reply.usage.prompt_tokens * 1_000_000 + reply.usage.completion_tokens * 2_000_000) // 1_000_000)
    assert micro(rec["cost"]) == expected
    after = gw.get_user(user["id"])
    assert micro(after["balance"]) == 10_000_000 - expected
    assert micro(after["used"]) == expected


def test_stream_parity_and_usage_only_when_asked(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key = setup
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Tell me about relays"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert all(c.usage is None for c in chunks), "usage chunk leaked to a caller who did not ask for it"
    assert all(c.choices for c in chunks)
    with_usage = list(client.chat.completions.create(model=model, messages=messages, stream=True,
                                                     stream_options={"include_usage": True}))
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert with_usage[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    records = gw.logs(key_id=key["id"])
    assert len(records) == 3
    assert {r["usage_source"] for r in records} == {"upstream"}
    assert len({r["cost"] for r in records}) == 1, "the same answer must cost the same, streamed or not"


def test_tools_non_stream_and_stream(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key = setup
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Use get_weather and get_time for Paris"}]
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL, TIME_TOOL])
    calls = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    streamed: dict[int, dict] = {}
    finish = None
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL, TIME_TOOL],
                                                stream=True):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                slot = streamed.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = tc.id or slot["id"]
                slot["name"] += tc.function.name or "" if tc.function else ""
                slot["arguments"] += tc.function.arguments or "" if tc.function else ""
    assert finish == "tool_calls"
    assert [streamed[i]["name"] for i in sorted(streamed)] == ["get_weather", "get_time"]
    assert [streamed[i]["arguments"] for i in sorted(streamed)] == [c.function.arguments for c in calls]
    # round trip: the tool result goes back and a text answer comes out
    follow = client.chat.completions.create(model=model, tools=[WEATHER_TOOL], messages=[
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        *({"role": "tool", "tool_call_id": c.id, "content": "sunny, 21C"} for c in calls),
    ])
    assert follow.choices[0].finish_reason == "stop"
    assert "sunny" in (follow.choices[0].message.content or "")


def test_legacy_functions_pass_through(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key = setup
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "call get_weather"}],
        functions=[WEATHER_TOOL["function"]], function_call={"name": "get_weather"})
    assert reply.choices[0].finish_reason == "function_call"
    assert reply.choices[0].message.function_call.name == "get_weather"


def test_unknown_fields_and_options_reach_upstream_unchanged(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key = setup
    gw.client(key["key"]).chat.completions.create(
        model=model, messages=[{"role": "user", "content": [
            {"type": "text", "text": "describe this image as json"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}]}],
        seed=7, n=2, logprobs=True, top_logprobs=2, response_format={"type": "json_object"},
        extra_body={"my_vendor_field": {"nested": [1, 2, 3]}, "top_k": 5})
    body = sim.requests[-1].json
    assert body["seed"] == 7 and body["n"] == 2 and body["logprobs"] is True and body["top_logprobs"] == 2
    assert body["response_format"] == {"type": "json_object"}
    assert body["my_vendor_field"] == {"nested": [1, 2, 3]} and body["top_k"] == 5
    assert body["messages"][0]["content"][1]["image_url"]["detail"] == "low"


def test_model_mapping(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    public, upstream = unique_model("public"), unique_model("upstream")
    gateway.channel(sim.base_url, [], model_mapping={public: upstream})
    gateway.price(public)
    _user, key = gateway.funded_key()
    reply = gateway.client(key["key"]).chat.completions.create(
        model=public, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    assert sim.requests[-1].json["model"] == upstream
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["model"] == public and rec["upstream_model"] == upstream


def test_models_list_shows_only_what_the_key_may_use(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    a, b, unpriced = unique_model("a"), unique_model("b"), unique_model("unpriced")
    gateway.channel(sim.base_url, [a, b, unpriced])
    gateway.price(a)
    gateway.price(b)
    _user, key = gateway.funded_key(models=[a])
    ids = [m.id for m in gateway.client(key["key"]).models.list()]
    assert ids == [a]
    _user, open_key = gateway.funded_key()
    ids = {m.id for m in gateway.client(open_key["key"]).models.list()}
    assert {a, b} <= ids and unpriced not in ids
    assert gateway.client(key["key"]).models.retrieve(a).id == a
    with pytest.raises(openai.NotFoundError):
        gateway.client(key["key"]).models.retrieve(b)


def test_keys_rotate_within_a_channel(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model], keys=["sk-sim-1", "sk-sim-2"])
    gateway.price(model)
    _user, key = gateway.funded_key()
    for _ in range(4):
        gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    used = [r.headers["authorization"] for r in sim.requests]
    assert sorted(used) == ["Bearer sk-sim-1"] * 2 + ["Bearer sk-sim-2"] * 2


def test_request_id_on_every_response(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key = setup
    ok = httpx.post(f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key['key']}"},
                    json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    bad = httpx.post(f"{gw.url}/v1/chat/completions", headers={"Authorization": "Bearer nope"}, json={})
    models = httpx.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {key['key']}"})
    for resp in (ok, bad, models):
        assert resp.headers.get("x-request-id", "").startswith("req_")
    assert gw.logs(key_id=key["id"])[0]["request_id"] == ok.headers["x-request-id"]
