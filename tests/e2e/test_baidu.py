"""ERNIE behind the OpenAI API: official openai SDK -> gateway -> simulated Qianfan v1 (token + chat)."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from tests.conftest import BAIDU_KEY
from tests.e2e.streams import WEATHER, read_stream_deltas
from tests.gateway import Gateway, micro, unique_model


def _channel(gw: Gateway, sim, upstream: str = "ernie-bot-4", key: str = BAIDU_KEY, **fields):  # type: ignore[no-untyped-def]
    """A baidu channel serving a fresh public model name mapped to ``upstream`` (which picks the endpoint)."""
    model = unique_model("ernie")
    channel = gw.channel(sim.base_url, [], keys=[key], type="baidu", model_mapping={model: upstream}, **fields)
    gw.price(model, "0.50", "1.50")
    return model, channel


@pytest.fixture()
def ernie(gateway: Gateway, baidu_sim):  # type: ignore[no-untyped-def]
    model, channel = _channel(gateway, baidu_sim)
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


def test_text_reply_request_mapping_usage_and_bill(ernie, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, channel = ernie
    reply = gw.client(key["key"]).chat.completions.create(
        model=model, temperature=0, frequency_penalty=1.0, user="end-user-1", messages=[
            {"role": "system", "content": "You are a guide."}, {"role": "user", "content": "Hello"},
            {"role": "user", "content": "Tell me about Beijing"}])
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "stop"
    [token_call, chat] = baidu_sim.requests[-2:]
    assert token_call.path == "/oauth/2.0/token" and token_call.query["grant_type"] == "client_credentials"
    assert chat.path == "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions_pro"  # ernie-bot-4
    assert chat.query["access_token"].startswith("24.")
    assert chat.json == {"messages": [{"role": "user", "content": "Hello\nTell me about Beijing"}],
                         "system": "You are a guide.", "temperature": 0.01, "penalty_score": 1.5,
                         "user_id": "end-user-1"}
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    [rec] = gw.logs(key_id=key["id"])
    assert rec["channel_id"] == channel["id"] and rec["usage_source"] == "upstream" and rec["upstream_model"] == \
        "ernie-bot-4"
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    expected = -(-(usage.prompt_tokens * 500_000 + usage.completion_tokens * 1_500_000) // 1_000_000)
    assert micro(rec["cost"]) == expected
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000 - expected


def test_reseller_model_names_reach_their_endpoints(gateway: Gateway, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    _user, key = gateway.funded_key("1.00")
    for upstream, endpoint in (("ernie-bot", "completions"), ("ernie-bot-4", "completions_pro"),
                               ("ernie-bot-turbo", "eb-instant")):
        model, _ = _channel(gateway, baidu_sim, upstream)
        gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert baidu_sim.requests[-1].path.endswith(f"/chat/{endpoint}")


def test_stream_parity_usage_and_token_reuse(ernie, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = ernie
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Tell me about rivers"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    text, finish, usage, _ = read_stream_deltas(client, model=model, messages=messages)
    assert text == whole.choices[0].message.content and finish == "stop" and usage is None
    assert baidu_sim.requests[-1].json["stream"] is True
    text, _, usage, _ = read_stream_deltas(client, model=model, messages=messages,
                                           stream_options={"include_usage": True})
    assert text == whole.choices[0].message.content
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    records = gw.logs(key_id=key["id"])
    assert len(records) == 3 and all(r["status_code"] == 200 and r["usage_source"] == "upstream" for r in records)
    assert len({r["cost"] for r in records}) == 1
    assert baidu_sim.tokens_issued == 1  # one token for the channel, reused by every request


def test_tool_call_round_trip(ernie, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = ernie
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Use get_weather for Paris"}]
    whole = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert whole.choices[0].finish_reason == "tool_calls"
    [call] = whole.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "example city"}
    assert baidu_sim.requests[-1].json["functions"][0]["name"] == "get_weather"
    _, finish, _, streamed = read_stream_deltas(client, model=model, messages=messages, tools=[WEATHER])
    assert finish == "tool_calls" and streamed[0].function.name == "get_weather"
    follow = client.chat.completions.create(model=model, tools=[WEATHER], messages=[
        *messages, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}])
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content == "According to the function result: get_weather returned sunny, 21C"
    sent = baidu_sim.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "function"] and sent[2]["name"] == "get_weather"


def test_truncated_and_filtered_answers(ernie, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = ernie
    client = gw.client(key["key"])
    baidu_sim.knobs.is_truncated = True
    assert client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a"}]) \
        .choices[0].finish_reason == "length"
    baidu_sim.knobs.is_truncated = False
    baidu_sim.knobs.need_clear_history = True
    _, finish, _, _ = read_stream_deltas(client, model=model, messages=[{"role": "user", "content": "b"}])
    assert finish == "content_filter"


@pytest.mark.parametrize("stream", [False, True])
def test_qps_limit_is_429_and_bad_parameters_400(ernie, baidu_sim, stream: bool) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = ernie
    client = gw.client(key["key"])
    baidu_sim.knobs.fail_next = 1
    baidu_sim.knobs.fail_code = 18
    with pytest.raises(openai.RateLimitError) as info:
        read_stream_deltas(client, model=model, messages=[{"role": "user", "content": "a"}]) if stream else \
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a"}])
    assert "qps" in info.value.message.lower()
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=model, max_tokens=5000, stream=stream,
                                       messages=[{"role": "user", "content": "a"}])
    assert "max_output_tokens" in bad.value.message
    records = gw.logs(key_id=key["id"])
    assert sorted(r["status_code"] for r in records) == [400, 429] and all(micro(r["cost"]) == 0 for r in records)
    assert micro(gw.get_user(user["id"])["balance"]) == 10_000_000


def test_wrong_secret_is_a_clear_error_and_fails_over(gateway: Gateway, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    model, bad = _channel(gateway, baidu_sim, key="baidu-ak-0001|wrong-secret", priority=10)
    _user, key = gateway.funded_key("1.00")
    with pytest.raises(openai.InternalServerError) as info:
        gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "a"}])
    assert info.value.status_code == 502
    assert "credentials" in info.value.message and "Client authentication failed" in info.value.message
    # a second, working channel for the same model takes over
    gateway.channel(baidu_sim.base_url, [], keys=[BAIDU_KEY], type="baidu", model_mapping={model: "ernie-bot"})
    reply = gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "a"}])
    assert reply.choices[0].message.content
    last = gateway.logs(key_id=key["id"])[0]
    assert last["status_code"] == 200 and last["tries"] == 2 and last["channel_id"] != bad["id"]


def _burst(gw: Gateway, key: str, model: str, n: int = 50) -> list[object]:
    async def run() -> list[object]:
        client = gw.async_client(key, timeout=60)
        try:
            return await asyncio.gather(*(client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"question {i}"}]) for i in range(n)),
                return_exceptions=True)
        finally:
            await client.close()
    return asyncio.run(run())


def test_cold_start_fifty_concurrent_requests_fetch_one_token(gateway: Gateway, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, baidu_sim)
    _user, key = gateway.funded_key("10.00")
    baidu_sim.knobs.token_latency_ms = 150  # every request arrives while the fetch is in flight
    results = _burst(gateway, key["key"], model)
    assert all(isinstance(r, openai.types.chat.ChatCompletion) for r in results), results
    assert baidu_sim.tokens_issued == 1


def test_expired_token_fifty_concurrent_requests_one_refresh(gateway: Gateway, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, baidu_sim)
    _user, key = gateway.funded_key("10.00")
    gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "warm"}])
    assert baidu_sim.tokens_issued == 1
    baidu_sim.expire_tokens()
    baidu_sim.knobs.token_latency_ms = 150
    results = _burst(gateway, key["key"], model)
    assert all(isinstance(r, openai.types.chat.ChatCompletion) for r in results), results
    assert baidu_sim.tokens_issued == 2  # one refresh, not fifty
    refused = [r for r in baidu_sim.requests if r.path.endswith("/completions_pro")]
    assert len(refused) >= 51  # the expired token was really used and refused before the refresh
    records = gateway.logs(key_id=key["id"], limit=100)
    assert len(records) == 51 and all(r["status_code"] == 200 and r["tries"] == 1 for r in records)


def test_channel_test_endpoint(gateway: Gateway, baidu_sim) -> None:  # type: ignore[no-untyped-def]
    _model, channel = _channel(gateway, baidu_sim)
    result = gateway.api("POST", f"/api/channels/{channel['id']}/test")
    assert result["ok"] is True and result["status_code"] == 200, result
    _model, broken = _channel(gateway, baidu_sim, key="nobody|nothing")
    result = gateway.api("POST", f"/api/channels/{broken['id']}/test")
    assert result["ok"] is False and "unknown client id" in result["error"]
