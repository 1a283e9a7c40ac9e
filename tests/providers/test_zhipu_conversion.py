"""Zhipu GLM v4: the JWT (format, milliseconds, signature), its cache, and GLM's finish reasons."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from relaygate.providers.base import ChatRequest, UpstreamFailure
from relaygate.providers.zhipu import ZhipuAdapter
from relaygate.providers.zhipu.jwt import JwtCache, make_jwt
from relaygate.state.snapshot import ChannelInfo

KEY = "kid123.s3cret"


def _part(token: str, i: int) -> Any:
    raw = token.split(".")[i]
    return orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def channel(**config: Any) -> ChannelInfo:
    return ChannelInfo(id=9, name="z", type="zhipu", base_url="https://open.bigmodel.cn/api/paas/v4", keys=(KEY,),
                       models=frozenset(), model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1,
                       status="enabled", config=config, timeout_s=None)


def req(stream: bool = False, wants_usage: bool = False) -> ChatRequest:
    body = {"model": "glm-4-flash", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return ChatRequest(body=body, model="glm-4-flash", stream=stream, wants_usage=wants_usage,
                       upstream_model="glm-4-flash", raw=orjson.dumps(body))


def test_jwt_shape_times_in_milliseconds_and_signature() -> None:
    token = make_jwt(KEY, 3600, now_s=1_700_000_000.5)
    assert _part(token, 0) == {"alg": "HS256", "sign_type": "SIGN"}
    assert _part(token, 1) == {"api_key": "kid123", "exp": 1_700_003_600_500, "timestamp": 1_700_000_000_500}
    head, payload, sig = token.split(".")
    expected = hmac.new(b"s3cret", f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expected and "=" not in token


def test_jwt_cached_until_shortly_before_expiry() -> None:
    now = [1000.0]
    cache = JwtCache(clock=lambda: now[0])
    first = cache.get(("ch", KEY), KEY, 3600)
    now[0] += 3600 - 301
    assert cache.get(("ch", KEY), KEY, 3600) == first and cache.built == 1
    now[0] += 2
    assert cache.get(("ch", KEY), KEY, 3600) != first and cache.built == 2
    assert cache.get(("other", KEY), KEY, 3600) != first  # per (channel, key)


@pytest.mark.parametrize("key", ["no-dot", ".secret", "id."])
def test_malformed_keys(key: str) -> None:
    with pytest.raises(UpstreamFailure) as info:
        make_jwt(key, 60, 0)
    assert info.value.error.code == "channel_misconfigured"


def test_headers_jwt_or_plain_key_and_body_passes_through() -> None:
    adapter = ZhipuAdapter()
    up = adapter.build_chat(channel(), KEY, req())
    assert up.url == "https://open.bigmodel.cn/api/paas/v4/chat/completions"
    token = up.headers["Authorization"].removeprefix("Bearer ")
    assert token.count(".") == 2 and adapter.build_chat(channel(), KEY, req()).headers["Authorization"] \
        == f"Bearer {token}"
    assert orjson.loads(up.body)["messages"] == [{"role": "user", "content": "hi"}]
    plain = adapter.build_chat(channel(auth="api_key"), KEY, req())
    assert plain.headers["Authorization"] == f"Bearer {KEY}"
    ttl = _part(adapter.build_chat(channel(jwt_ttl_s=600), "other.key", req()).headers["Authorization"][7:], 1)
    assert ttl["exp"] - ttl["timestamp"] == 600_000


def test_sensitive_becomes_content_filter() -> None:
    adapter = ZhipuAdapter()
    body = orjson.dumps({"id": "1", "created": 1, "model": "glm-4", "request_id": "1", "choices": [
        {"index": 0, "finish_reason": "sensitive", "message": {"role": "assistant", "content": ""}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}})
    out, usage = adapter.parse_chat(req(), body)
    assert orjson.loads(out)["choices"][0]["finish_reason"] == "content_filter" and usage.prompt_tokens == 3
    relay = adapter.stream_relay(req(stream=True))
    chunk = {"id": "1", "created": 1, "model": "glm-4", "choices": [
        {"index": 0, "delta": {"content": "x"}, "finish_reason": "sensitive"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    out = relay.feed(b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n")
    assert b'"finish_reason":"content_filter"' in out and b'"usage"' not in out and relay.done
    assert relay.usage is not None and relay.usage.completion_tokens == 1
