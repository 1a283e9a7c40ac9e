"""The Anthropic-format entry: the official anthropic SDK -> POST /v1/messages -> any channel.

Against an ``anthropic`` channel the caller's request and the upstream's answer pass through
unchanged (only the model mapped); against an ``openai`` (or ``gemini``) channel both are
converted. Either way the SDK must see well-formed messages, event streams, tool use, usage and
Anthropic-shaped errors, and the bill must match the upstream's count.
"""

from __future__ import annotations

import anthropic
import httpx
import orjson
import pytest

from tests.conftest import ANTHROPIC_KEY, GEMINI_KEY
from tests.gateway import Gateway, micro, unique_model

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
HI = [{"role": "user", "content": "Hello there"}]


def sdk(gw: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


@pytest.fixture()
def via_openai(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    model = unique_model("claude-on-openai")
    channel = gateway.channel(sim.base_url, [model])
    gateway.price(model, "1.00", "2.00")
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


@pytest.fixture()
def via_anthropic(gateway: Gateway, anthropic_sim):  # type: ignore[no-untyped-def]
    public, upstream = unique_model("claude-sonnet-4-5"), "claude-sonnet-4-5-20250929"
    channel = gateway.channel(anthropic_sim.base_url, [], keys=[ANTHROPIC_KEY], type="anthropic",
                              model_mapping={public: upstream})
    gateway.price(public, "3.00", "15.00", cache_read="0.30", cache_write="3.75")
    user, key = gateway.funded_key("10.00")
    return gateway, public, upstream, user, key, channel


def _raw_events(client: anthropic.Anthropic, **kwargs) -> list:  # type: ignore[no-untyped-def]
    return list(client.messages.create(stream=True, **kwargs))


# --- onto an OpenAI channel (converted) ----------------------------------------------------------------------

def test_openai_channel_text_request_mapping_usage_and_bill(via_openai, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, channel = via_openai
    raw = sdk(gw, key["key"]).messages.with_raw_response.create(
        model=model, max_tokens=300, system="You are terse.", stop_sequences=["zzz"],
        metadata={"user_id": "end-user-1"}, messages=HI, extra_body={"temperature": 0.5})
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant" and msg.model == model and msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    sent = sim.requests[-1].json
    assert sent["messages"] == [{"role": "system", "content": "You are terse."},
                                {"role": "user", "content": "Hello there"}]
    assert (sent["max_tokens"], sent["temperature"], sent["stop"], sent["user"]) == (300, 0.5, ["zzz"], "end-user-1")
    assert sim.requests[-1].headers["authorization"] == "Bearer sk-sim-1"
    [rec] = gw.logs(key_id=key["id"])
    assert rec["endpoint"] == "messages" and rec["channel_id"] == channel["id"] and rec["status_code"] == 200
    assert rec["request_id"] == raw.headers["x-request-id"]
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (msg.usage.input_tokens, msg.usage.output_tokens)
    expected = -(-(rec["prompt_tokens"] * 1_000_000 + rec["completion_tokens"] * 2_000_000) // 1_000_000)
    assert micro(rec["cost"]) == expected and micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - expected


def test_openai_channel_stream_event_sequence_and_parity(via_openai) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    client = sdk(gw, key["key"])
    whole = client.messages.create(model=model, max_tokens=300, messages=HI)
    with client.messages.stream(model=model, max_tokens=300, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text == final.content[0].text
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (whole.usage.input_tokens,
                                                                     whole.usage.output_tokens)
    events = _raw_events(client, model=model, max_tokens=300, messages=HI)
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    records = gw.logs(key_id=key["id"])
    assert len(records) == 3 and len({r["cost"] for r in records}) == 1


def test_openai_channel_tools_stream_and_round_trip(via_openai, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    client = sdk(gw, key["key"])
    ask = [{"role": "user", "content": "Use get_weather and get_time for Paris"}]
    msg = client.messages.create(model=model, max_tokens=300, tools=[WEATHER, TIME], messages=ask)
    assert msg.stop_reason == "tool_use"
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "example city"}), ("get_time", {})]
    sent = sim.requests[-1].json
    assert sent["tools"][0] == {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER["input_schema"]}}
    with client.messages.stream(model=model, max_tokens=300, tools=[WEATHER, TIME], messages=ask) as stream:
        final = stream.get_final_message()
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [(u.name, u.input) for u in uses]
    assert final.stop_reason == "tool_use"
    follow = client.messages.create(model=model, max_tokens=300, tools=[WEATHER, TIME], messages=[
        *ask, {"role": "assistant", "content": [u.model_dump() for u in uses]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"},
            {"type": "tool_result", "tool_use_id": uses[1].id, "content": [{"type": "text", "text": "noon"}]}]}])
    assert follow.stop_reason == "end_turn"
    assert "get_weather returned sunny; get_time returned noon" in follow.content[0].text
    sent = sim.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"example city"}'}


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "any"}, "required"), ({"type": "tool", "name": "get_time"},
                                    {"type": "function", "function": {"name": "get_time"}}),
    ({"type": "auto", "disable_parallel_tool_use": True}, "auto"),
])
def test_openai_channel_tool_choice(via_openai, sim, choice, expected) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    sdk(gw, key["key"]).messages.create(model=model, max_tokens=100, tools=[WEATHER, TIME], tool_choice=choice,
                                        messages=HI)
    sent = sim.requests[-1].json
    assert sent["tool_choice"] == expected
    assert sent.get("parallel_tool_calls", True) is not choice.get("disable_parallel_tool_use", False)


def test_openai_channel_vision(via_openai, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    msg = sdk(gw, key["key"]).messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "text", "text": "What is this?"}]}])
    assert msg.content[0].text
    parts = sim.requests[-1].json["messages"][0]["content"]
    assert parts == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                     {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                     {"type": "text", "text": "What is this?"}]


def test_openai_channel_max_tokens_stop_and_errors(via_openai, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    client = sdk(gw, key["key"])
    assert client.messages.create(model=model, max_tokens=2, messages=HI).stop_reason == "max_tokens"
    sim.knobs.fail_next, sim.knobs.fail_status, sim.knobs.retry_after = 5, 429, 4
    with pytest.raises(anthropic.RateLimitError) as rate:
        client.messages.create(model=model, max_tokens=10, messages=HI)
    assert rate.value.response.headers["retry-after"] == "4"
    assert rate.value.body["type"] == "error" and rate.value.body["error"]["type"] == "rate_limit_error"
    sim.reset()
    sim.knobs.fail_next, sim.knobs.fail_status = 5, 503
    with pytest.raises(anthropic.OverloadedError) as overloaded:  # OpenAI's "overloaded" is Anthropic's 529
        client.messages.create(model=model, max_tokens=10, messages=HI)
    assert overloaded.value.body["error"]["type"] == "overloaded_error"
    sim.reset()
    sim.knobs.stream_error_after = 3
    with pytest.raises(anthropic.APIStatusError) as mid, \
            client.messages.stream(model=model, max_tokens=300, messages=HI) as stream:
        for _ in stream.text_stream:
            pass
    assert mid.value.body["type"] == "error"
    rec = gw.logs(key_id=key["id"])[0]
    assert rec["outcome"] == "upstream_error" and rec["completion_tokens"] > 0


def test_server_tools_cannot_go_to_an_openai_channel(via_openai) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    with pytest.raises(anthropic.BadRequestError) as exc:
        sdk(gw, key["key"]).messages.create(model=model, max_tokens=10, messages=HI, tools=[
            {"type": "web_search_20250305", "name": "web_search"}])
    assert "server tools" in exc.value.body["error"]["message"]


# --- onto an Anthropic channel (pass-through) ----------------------------------------------------------------

def test_anthropic_channel_passes_through(via_anthropic, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, public, upstream, user, key, _ = via_anthropic
    client = anthropic.Anthropic(base_url=gw.url, api_key=key["key"], max_retries=0,
                                 default_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    anthropic_sim.knobs.cache_read_tokens, anthropic_sim.knobs.cache_write_tokens = 5, 3
    request = {"model": public, "max_tokens": 2000, "system": [{"type": "text", "text": "Be terse.",
                                                                "cache_control": {"type": "ephemeral"}}],
               "thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5, "messages": HI}
    msg = client.messages.create(**{k: v for k, v in request.items() if k != "top_k"}, extra_body={"top_k": 5})
    seen = anthropic_sim.requests[-1]
    assert seen.json == {**request, "model": upstream}  # unchanged but for the model
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY and seen.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert [b.type for b in msg.content] == ["thinking", "text"] and msg.content[0].signature
    assert msg.model == upstream and msg.usage.cache_read_input_tokens == 5
    [rec] = gw.logs(key_id=key["id"])
    assert rec["endpoint"] == "messages" and rec["model"] == public and rec["upstream_model"] == upstream
    assert (rec["cache_read_tokens"], rec["cache_write_tokens"]) == (5, 3)
    assert rec["prompt_tokens"] == msg.usage.input_tokens + 8 and rec["completion_tokens"] == msg.usage.output_tokens
    raw = (msg.usage.input_tokens * 3_000_000 + 5 * 300_000 + 3 * 3_750_000
           + msg.usage.output_tokens * 15_000_000)
    assert micro(rec["cost"]) == -(-raw // 1_000_000)
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - micro(rec["cost"])


def test_anthropic_channel_stream_is_relayed_byte_for_byte(via_anthropic, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, public, _upstream, _user, key, _ = via_anthropic
    body = {"model": public, "max_tokens": 500, "stream": True, "tools": [WEATHER],
            "messages": [{"role": "user", "content": "get_weather for Rome"}]}
    headers = {"x-api-key": key["key"], "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", f"{gw.url}/v1/messages", json=body, headers=headers, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        received = resp.read()
    assert anthropic_sim.requests[-1].headers["anthropic-version"] == "2023-06-01"  # the caller's, forwarded
    names = [line[7:] for line in received.decode().splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"] and names[-1] == "message_stop"
    assert "input_json_delta" in received.decode()
    with sdk(gw, key["key"]).messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[-1].input == {"city": "example city"}
    records = gw.logs(key_id=key["id"])
    assert [r["status_code"] for r in records] == [200, 200]
    assert records[0]["completion_tokens"] == records[1]["completion_tokens"] == final.usage.output_tokens


def test_anthropic_channel_errors_keep_anthropic_types(via_anthropic, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    gw, public, _upstream, _user, key, _ = via_anthropic
    client = sdk(gw, key["key"])
    anthropic_sim.knobs.fail_next, anthropic_sim.knobs.fail_status = 5, 529
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        client.messages.create(model=public, max_tokens=10, messages=HI)
    assert overloaded.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    anthropic_sim.reset()
    with pytest.raises(anthropic.BadRequestError) as bad:  # the upstream's own validation, passed back
        client.messages.create(model=public, max_tokens=10, messages=HI, extra_body={"temperature": 1.5})
    assert bad.value.body["error"]["message"] == "temperature: Input should be less than or equal to 1"
    anthropic_sim.knobs.stream_error_after = 2
    with pytest.raises(anthropic.APIStatusError) as mid, \
            client.messages.stream(model=public, max_tokens=300, messages=HI) as stream:
        for _ in stream.text_stream:
            pass
    assert mid.value.body["error"]["type"] == "overloaded_error"
    rec = gw.logs(key_id=key["id"])[0]
    assert rec["outcome"] == "upstream_error" and rec["prompt_tokens"] > 0 and rec["completion_tokens"] >= 2


def test_anthropic_channel_caller_closing_on_an_error_event(via_anthropic, anthropic_sim) -> None:  # type: ignore[no-untyped-def]
    """The SDK raises and closes at the error event; the upstream ends its body later: the upstream's error."""
    gw, public, _upstream, _user, key, _ = via_anthropic
    anthropic_sim.knobs.linger_ms, anthropic_sim.knobs.stream_error_after = 1500, 2
    with pytest.raises(anthropic.APIStatusError), \
            sdk(gw, key["key"]).messages.stream(model=public, max_tokens=300, messages=HI) as stream:
        for _ in stream.text_stream:
            pass
    [rec] = gw.logs(key_id=key["id"])
    assert (rec["status_code"], rec["outcome"]) == (529, "upstream_error")
    assert rec["completion_tokens"] >= 2


def test_failover_from_anthropic_to_openai_channel(gateway: Gateway, anthropic_sim, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("claude-3-5-haiku")
    first = gateway.channel(anthropic_sim.base_url, [model], keys=[ANTHROPIC_KEY], type="anthropic", priority=5)
    second = gateway.channel(sim.base_url, [model], priority=0)
    gateway.price(model)
    _user, key = gateway.funded_key()
    anthropic_sim.knobs.fail_next, anthropic_sim.knobs.fail_status = 1, 529
    with sdk(gateway, key["key"]).messages.stream(model=model, max_tokens=100, messages=HI) as stream:
        text = "".join(stream.text_stream)
    assert text and len(anthropic_sim.requests) == 1 and sim.requests[-1].json["model"] == model
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["channel_id"] == second["id"] != first["id"] and rec["tries"] == 2


def test_gemini_channel_through_messages(gateway: Gateway, gemini_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("gemini-2.5-flash")
    gateway.channel(gemini_sim.base_url, [model], keys=[GEMINI_KEY], type="gemini")
    gateway.price(model)
    _user, key = gateway.funded_key()
    client = sdk(gateway, key["key"])
    whole = client.messages.create(model=model, max_tokens=200, messages=HI)
    with client.messages.stream(model=model, max_tokens=200, messages=HI) as stream:
        assert "".join(stream.text_stream) == whole.content[0].text
    assert gemini_sim.requests[-1].json["generationConfig"]["maxOutputTokens"] == 200
    tools = client.messages.create(model=model, max_tokens=200, tools=[WEATHER],
                                   messages=[{"role": "user", "content": "get_weather please"}])
    assert tools.stop_reason == "tool_use" and tools.content[-1].input == {"city": "example city"}


# --- count_tokens and the caller's errors ------------------------------------------------------------------

def test_count_tokens(via_anthropic, anthropic_sim, gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    gw, public, upstream, _user, key, _ = via_anthropic
    counted = sdk(gw, key["key"]).messages.count_tokens(model=public, messages=HI, system="Be terse.")
    seen = anthropic_sim.requests[-1]
    assert seen.path == "/v1/messages/count_tokens" and seen.json["model"] == upstream
    assert counted.input_tokens > 0
    other = unique_model("m")
    gateway.channel(sim.base_url, [other])
    gateway.price(other)
    local = sdk(gw, key["key"]).messages.count_tokens(model=other, messages=HI)
    assert local.input_tokens > 0
    assert gw.logs(key_id=key["id"]) == [], "counting tokens is free"


def test_caller_errors_are_anthropic_shaped(via_openai) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = via_openai
    with pytest.raises(anthropic.AuthenticationError) as auth:
        sdk(gw, "sk-wrong").messages.create(model=model, max_tokens=10, messages=HI)
    assert auth.value.body["type"] == "error" and auth.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk(gw, key["key"]).messages.create(model="no-such-model", max_tokens=10, messages=HI)
    assert missing.value.body["error"]["type"] == "not_found_error"
    narrow = gw.key(user["id"], models=["something-else"])
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        sdk(gw, narrow["key"]).messages.create(model=model, max_tokens=10, messages=HI)
    assert denied.value.body["error"]["type"] == "permission_error"
    _poor, poor_key = gw.funded_key("0.000001")
    with pytest.raises(anthropic.PermissionDeniedError):
        sdk(gw, poor_key["key"]).messages.create(model=model, max_tokens=10, messages=HI)
    bearer = anthropic.Anthropic(base_url=gw.url, auth_token=key["key"], max_retries=0)
    assert bearer.messages.create(model=model, max_tokens=10, messages=HI).content


@pytest.mark.parametrize(("body", "fragment"), [
    (b"{not json", "JSON"),
    (b"[]", "object"),
    (b'{"model": "MODEL", "messages": [{"role": "user", "content": "hi"}]}', "max_tokens: Field required"),
    (b'{"model": "MODEL", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}', "max_tokens"),
    (b'{"model": "MODEL", "max_tokens": 5}', "messages: Field required"),
    (b'{"model": "MODEL", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}', "messages.0.role"),
    (b'{"model": "MODEL", "max_tokens": 5, "messages": [{"role": "user"}]}', "messages.0.content"),
    (b'{"max_tokens": 5, "messages": []}', "model: Field required"),
    (b'{"model": "MODEL", "max_tokens": 5, "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
     "stream"),
])
def test_malformed_bodies_are_400_in_anthropic_shape(via_openai, body: bytes, fragment: str) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = via_openai
    resp = httpx.post(f"{gw.url}/v1/messages", content=body.replace(b"MODEL", model.encode()),
                      headers={"x-api-key": key["key"], "content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    data = resp.json()
    assert data["type"] == "error" and data["error"]["type"] == "invalid_request_error"
    assert fragment in data["error"]["message"] and "Traceback" not in resp.text


def test_unknown_subpath_and_wrong_method(gateway: Gateway) -> None:
    resp = httpx.post(f"{gateway.url}/v1/messages/batches", json={})
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"
    resp = httpx.get(f"{gateway.url}/v1/messages")
    assert resp.status_code == 405 and resp.json()["type"] == "error"
    assert orjson.loads(httpx.post(f"{gateway.url}/v1/messages", json={}).content)["error"]["type"] == \
        "authentication_error"
