"""GLM behind the OpenAI API: official openai SDK -> gateway -> simulated Zhipu v4 (JWT-checking)."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import ZHIPU_KEY
from tests.e2e.streams import read_stream_deltas
from tests.gateway import Gateway, micro, unique_model


def _channel(gw: Gateway, sim, upstream: str = "glm-4-flash", key: str = ZHIPU_KEY, **fields):  # type: ignore[no-untyped-def]
    model = unique_model("glm")
    channel = gw.channel(sim.base_url + "/api/paas/v4", [], keys=[key], type="zhipu",
                         model_mapping={model: upstream}, **fields)
    gw.price(model, "0.10", "0.10")
    return model, channel


@pytest.fixture()
def glm(gateway: Gateway, zhipu_sim):  # type: ignore[no-untyped-def]
    model, channel = _channel(gateway, zhipu_sim)
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


def test_jwt_auth_cached_usage_and_bill(glm, zhipu_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = glm
    client = gw.client(key["key"])
    replies = [client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"q{i}"}])
               for i in range(5)]
    assert all(r.choices[0].message.content and r.choices[0].finish_reason == "stop" for r in replies)
    seen = zhipu_sim.requests[-1]
    assert seen.path == "/api/paas/v4/chat/completions" and seen.json["model"] == "glm-4-flash"
    token = seen.headers["authorization"].removeprefix("Bearer ")
    assert token.count(".") == 2 and ZHIPU_KEY not in seen.headers["authorization"]  # a JWT, not the key
    assert zhipu_sim.jwts_seen == {token} and zhipu_sim.plain_key_requests == 0  # built once, then cached
    records = gw.logs(key_id=key["id"])
    assert len(records) == 5 and all(r["usage_source"] == "upstream" for r in records)
    spent = sum(micro(r["cost"]) for r in records)
    expected = sum(-(-(r.usage.prompt_tokens + r.usage.completion_tokens) * 100_000 // 1_000_000) for r in replies)
    assert spent == expected == 10_000_000 - micro(gw.get_user(user["id"])["balance"])


def test_stream_parity_and_usage(glm, zhipu_sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = glm
    client = gw.client(key["key"])
    messages = [{"role": "user", "content": "Tell me about meadows"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    text, finish, usage, _ = read_stream_deltas(client, model=model, messages=messages)
    assert text == whole.choices[0].message.content and finish == "stop" and usage is None
    text, _, usage, _ = read_stream_deltas(client, model=model, messages=messages,
                                           stream_options={"include_usage": True})
    assert text == whole.choices[0].message.content
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    assert len({r["cost"] for r in gw.logs(key_id=key["id"])}) == 1


def test_sensitive_is_content_filter_and_glm45_without_object(gateway: Gateway, zhipu_sim) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, zhipu_sim, "glm-4.5")
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content and reply.usage.total_tokens > 0
    zhipu_sim.knobs.sensitive = True
    assert client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}]) \
        .choices[0].finish_reason == "content_filter"
    assert read_stream_deltas(client, model=model, messages=[{"role": "user", "content": "x"}])[1] == "content_filter"


def test_auth_failures_are_clear_errors(gateway: Gateway, zhipu_sim) -> None:  # type: ignore[no-untyped-def]
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    wrong, _ = _channel(gateway, zhipu_sim, key="zhipu-id-0001.wrong-secret")
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=wrong, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502 and "credentials (401)" in info.value.message
    assert "Authorization Token非法" in info.value.message
    good, _ = _channel(gateway, zhipu_sim)
    zhipu_sim.knobs.clock_offset_s = 7200  # past the token's one-hour lifetime
    with pytest.raises(openai.InternalServerError) as expired:
        client.chat.completions.create(model=good, messages=[{"role": "user", "content": "x"}])
    assert "已过期" in expired.value.message
    malformed, _ = _channel(gateway, zhipu_sim, key="no-dot-in-this-key")
    with pytest.raises(openai.InternalServerError) as bad:
        client.chat.completions.create(model=malformed, messages=[{"role": "user", "content": "x"}])
    assert "<id>.<secret>" in bad.value.message


def test_plain_key_mode_and_rate_limit(gateway: Gateway, zhipu_sim) -> None:  # type: ignore[no-untyped-def]
    model, _ = _channel(gateway, zhipu_sim, config={"auth": "api_key"})
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert zhipu_sim.requests[-1].headers["authorization"] == f"Bearer {ZHIPU_KEY}"
    assert zhipu_sim.plain_key_requests == 1 and not zhipu_sim.jwts_seen
    zhipu_sim.knobs.fail_next = 1
    zhipu_sim.knobs.fail_status = 429
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "1302"
