"""OpenAI <-> Qianfan v1 (ERNIE) conversion and the shared access-token cache (protocol notes §1-§5)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from relaygate.providers.baidu import BaiduAdapter
from relaygate.providers.baidu.errors import baidu_error, parse_error
from relaygate.providers.baidu.request import build_body, endpoint_for
from relaygate.providers.baidu.token import TokenCache
from relaygate.providers.baidu.transport import split_key, token_url
from relaygate.providers.base import ChatRequest, UpstreamFailure, Usage
from relaygate.state.snapshot import ChannelInfo

ADAPTER = BaiduAdapter()
USER = {"role": "user", "content": "hi"}


def req(body: dict[str, Any], stream: bool = False, wants_usage: bool = False) -> ChatRequest:
    return ChatRequest(body={"model": "ernie-bot", **body}, model="ernie-bot", stream=stream, wants_usage=wants_usage,
                       upstream_model="ernie-bot")


def channel(base_url: str = "https://aip.baidubce.com", **config: Any) -> ChannelInfo:
    return ChannelInfo(id=7, name="b", type="baidu", base_url=base_url, keys=("ak|sk",), models=frozenset(),
                       model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1, status="enabled",
                       config=config, timeout_s=None)


REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("one user turn", {"messages": [USER]}, {"messages": [{"role": "user", "content": "hi"}]}),
    ("system messages -> system field, joined",
     {"messages": [{"role": "system", "content": "A"}, USER, {"role": "developer", "content": "B"}]},
     {"system": "A\n\nB", "messages": [{"role": "user", "content": "hi"}]}),
    ("consecutive user turns merged, leading and trailing assistant dropped",
     {"messages": [{"role": "assistant", "content": "welcome"}, USER, {"role": "user", "content": "more"},
                   {"role": "assistant", "content": "ok"}, {"role": "assistant", "content": "and"},
                   {"role": "user", "content": "q"}, {"role": "assistant", "content": "prefill"}]},
     {"messages": [{"role": "user", "content": "hi\nmore"}, {"role": "assistant", "content": "ok\nand"},
                   {"role": "user", "content": "q"}]}),
    ("text parts joined", {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                     {"type": "text", "text": "b"}]}]},
     {"messages": [{"role": "user", "content": "a\nb"}]}),
    ("temperature 0 -> 0.01, top_p clamped, penalty mapped into [1, 2]",
     {"messages": [USER], "temperature": 0, "top_p": 1.5, "frequency_penalty": 0.5},
     {"temperature": 0.01, "top_p": 1.0, "penalty_score": 1.25}),
    ("temperature above 1 clamped; penalties clamped at 2; negative penalty dropped",
     {"messages": [USER], "temperature": 1.7, "presence_penalty": 3}, {"temperature": 1.0, "penalty_score": 2.0}),
    ("negative penalty is no penalty", {"messages": [USER], "frequency_penalty": -1}, {}),
    ("limits, user, stop (at most 4), stream",
     {"messages": [USER], "max_tokens": 1, "user": "u-1", "stop": ["a", "b", "c", "d", "e"]},
     {"max_output_tokens": 2, "user_id": "u-1", "stop": ["a", "b", "c", "d"]}),
    ("tools -> functions", {"messages": [USER], "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {}}}}]},
     {"functions": [{"name": "get_weather", "description": "Weather",
                     "parameters": {"type": "object", "properties": {}}}]}),
    ("tool_choice none sends no functions",
     {"messages": [USER], "tool_choice": "none", "tools": [{"type": "function", "function": {"name": "f"}}]}, {}),
    ("tool round trip: assistant function_call, then a function turn named by the call id",
     {"messages": [USER, {"role": "assistant", "content": None, "tool_calls": [
         {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"c":1}'}}]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "", "function_call": {"name": "get_weather",
                                                                          "arguments": '{"c":1}'}},
                   {"role": "function", "name": "get_weather", "content": "sunny"}]}),
    ("a tool result followed by a user turn: one user turn with both",
     {"messages": [USER, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
                   {"role": "function", "name": "f", "content": "42"}, {"role": "user", "content": "thanks"}]},
     {"messages": [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": "{}"}},
                   {"role": "user", "content": "f returned: 42\nthanks"}]}),
]


@pytest.mark.parametrize(("name", "body", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_conversion(name: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = build_body(req(body))
    for key, value in expected.items():
        assert out[key] == value, (key, out)
    for absent in ("penalty_score", "functions", "stream"):
        if absent not in expected:
            assert absent not in out, out
    assert len(out["messages"]) % 2 == 1


def test_stream_flag_and_url() -> None:
    up = ADAPTER.build_chat(channel(), "ak|sk", req({"messages": [USER]}, stream=True))
    assert up.url == "https://aip.baidubce.com/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions"
    assert "access_token" not in up.url  # added by the transport, per request
    assert orjson.loads(up.body)["stream"] is True


@pytest.mark.parametrize(("model", "endpoint"), [
    ("ernie-bot", "completions"), ("ERNIE-Bot-4", "completions_pro"), ("ernie-bot-turbo", "eb-instant"),
    ("ernie-bot-8k", "ernie_bot_8k"), ("ernie-4.0-8k", "completions_pro"), ("ernie-speed-8k", "ernie_speed"),
    ("ERNIE-Speed-128K", "ernie-speed-128k"), ("ernie-tiny-8k", "ernie-tiny-8k"), ("bloomz-7b", "bloomz_7b1"),
])
def test_endpoint_table(model: str, endpoint: str) -> None:
    assert endpoint_for(model, {}) == endpoint


def test_endpoint_override_and_urls() -> None:
    assert endpoint_for("my-tuned", {"endpoints": {"my-tuned": "abcd1234"}}) == "abcd1234"
    pasted = channel("https://aip.baidubce.com/rpc/2.0/ai_custom/v1/wenxinworkshop")
    assert token_url(pasted) == "https://aip.baidubce.com/oauth/2.0/token"
    assert ADAPTER.build_chat(pasted, "k", req({"messages": [USER]})).url.endswith("/wenxinworkshop/chat/completions")
    assert token_url(channel(oauth_url="https://auth.example/token")) == "https://auth.example/token"


@pytest.mark.parametrize("content", [[{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}], 5])
def test_unsupported_content_is_refused_for_another_channel(content: Any) -> None:
    with pytest.raises(UpstreamFailure) as info:
        build_body(req({"messages": [{"role": "user", "content": content}]}))
    assert info.value.error.status == 400 and info.value.error.retryable


def test_only_assistant_turns_is_refused() -> None:
    with pytest.raises(UpstreamFailure):
        build_body(req({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}))


@pytest.mark.parametrize("key", ["", "only-one-part", "|sk", "ak|"])
def test_key_must_have_both_parts(key: str) -> None:
    with pytest.raises(UpstreamFailure) as info:
        split_key(key)
    assert info.value.error.code == "channel_misconfigured" and info.value.error.channel_fault


ANSWER = {"id": "as-1", "object": "chat.completion", "created": 1680167072, "result": "北京是中国的首都",
          "is_truncated": False, "need_clear_history": False,
          "usage": {"prompt_tokens": 7, "completion_tokens": 67, "total_tokens": 74}}


@pytest.mark.parametrize(("extra", "body", "finish"), [
    ({}, {}, "stop"),
    ({"is_truncated": True}, {}, "length"),
    ({"need_clear_history": True, "ban_round": -1}, {}, "content_filter"),
    ({"finish_reason": "length"}, {}, "length"),
])
def test_whole_answer(extra: dict[str, Any], body: dict[str, Any], finish: str) -> None:
    out, usage = ADAPTER.parse_chat(req({"messages": [USER], **body}), orjson.dumps({**ANSWER, **extra}))
    data = orjson.loads(out)
    assert data["object"] == "chat.completion" and data["id"] == "as-1" and data["created"] == 1680167072
    assert data["choices"][0]["message"]["content"] == "北京是中国的首都"
    assert data["choices"][0]["finish_reason"] == finish
    assert data["usage"] == {"prompt_tokens": 7, "completion_tokens": 67, "total_tokens": 74}
    assert usage == Usage(7, 67)


@pytest.mark.parametrize(("body", "shape"), [
    ({"tools": [{"type": "function", "function": {"name": "get_weather"}}]}, "tools"),
    ({"functions": [{"name": "get_weather"}]}, "legacy"),
])
def test_function_call_answer(body: dict[str, Any], shape: str) -> None:
    answer = {**ANSWER, "result": "", "function_call": {"name": "get_weather", "arguments": '{"city":"Beijing"}',
                                                       "thoughts": "I should call it"}}
    data = orjson.loads(ADAPTER.parse_chat(req({"messages": [USER], **body}), orjson.dumps(answer))[0])
    message = data["choices"][0]["message"]
    assert message["content"] is None
    if shape == "tools":
        assert data["choices"][0]["finish_reason"] == "tool_calls"
        [call] = message["tool_calls"]
        assert call["id"].startswith("call_") and call["type"] == "function"
        assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Beijing"}'}
    else:
        assert data["choices"][0]["finish_reason"] == "function_call"
        assert message["function_call"] == {"name": "get_weather", "arguments": '{"city":"Beijing"}'}


def test_error_body_with_200_is_an_error_not_an_answer() -> None:
    with pytest.raises(UpstreamFailure) as info:
        ADAPTER.parse_chat(req({"messages": [USER]}), b'{"error_code":18,"error_msg":"Open api qps request limit"}')
    assert info.value.error.status == 429


def _events(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)


STREAM = [
    {"id": "as-2", "created": 5, "sentence_id": 0, "is_end": False, "result": "北京",
     "usage": {"prompt_tokens": 11, "completion_tokens": 0, "total_tokens": 11}},
    {"id": "as-2", "created": 5, "sentence_id": 1, "is_end": False, "result": "是中国的首都",
     "usage": {"prompt_tokens": 11, "completion_tokens": 0, "total_tokens": 11}},
    {"id": "as-2", "created": 5, "sentence_id": 2, "is_end": True, "result": "。",
     "usage": {"prompt_tokens": 11, "completion_tokens": 16, "total_tokens": 27}},
]


def _chunks(raw: bytes) -> list[Any]:
    out = []
    for event in raw.split(b"\n\n"):
        if event.startswith(b"data: "):
            payload = event[6:]
            out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


@pytest.mark.parametrize("cut", [1, 7, 50, 10_000])
@pytest.mark.parametrize("wants_usage", [False, True])
def test_stream_conversion_whatever_the_read_sizes(cut: int, wants_usage: bool) -> None:
    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True, wants_usage=wants_usage))
    raw = _events(*STREAM).replace(b"\n", b"\r\n")
    out = b"".join(relay.feed(raw[i:i + cut]) for i in range(0, len(raw), cut))
    chunks = _chunks(out)
    assert chunks[-1] == "[DONE]" and relay.done and relay.error is None
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"])
    assert text == "北京是中国的首都。" == relay.completion_text()
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "as-2" for c in chunks[:-1])
    assert relay.usage == Usage(11, 16)  # the last event's, not the intermediate zero counts
    usage_chunks = [c for c in chunks[:-1] if "usage" in c]
    assert (usage_chunks[0]["usage"]["completion_tokens"] == 16) if wants_usage else not usage_chunks


def test_stream_function_call_and_bare_error() -> None:
    relay = ADAPTER.stream_relay(req({"messages": [USER], "tools": [{"type": "function", "function": {"name": "f"}}]},
                                     stream=True))
    out = _chunks(relay.feed(_events({"id": "as-3", "is_end": True, "result": "",
                                      "function_call": {"name": "f", "arguments": "{}"},
                                      "usage": {"prompt_tokens": 3, "completion_tokens": 2}})))
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in out[:-1] if "tool_calls" in c["choices"][0]["delta"]]
    assert calls[0][0]["function"] == {"name": "f", "arguments": "{}"} and calls[0][0]["index"] == 0
    assert out[-2]["choices"][0]["finish_reason"] == "tool_calls"

    relay = ADAPTER.stream_relay(req({"messages": [USER]}, stream=True))
    first = relay.feed(_events(STREAM[0]))
    assert first and not relay.done
    tail = _chunks(relay.feed(b'{"error_code":336100,"error_msg":"Try again"}'))
    assert tail[-1] == "[DONE]" and tail[0]["error"]["message"] == "Try again"
    assert relay.error is not None and relay.error.status == 503 and not relay.done


@pytest.mark.parametrize(("code", "status", "retryable", "fault", "err_code"), [
    (18, 429, True, False, "rate_limit_exceeded"),
    (4, 429, True, False, "rate_limit_exceeded"),
    (336501, 429, True, False, "rate_limit_exceeded"),
    (17, 429, True, True, "upstream_quota_exceeded"),
    (110, 502, True, True, "upstream_auth_failed"),
    (111, 502, True, True, "upstream_auth_failed"),
    (14, 502, True, True, "upstream_auth_failed"),
    (2, 503, True, True, "overloaded"),
    (336100, 503, True, True, "overloaded"),
    (336000, 500, True, True, "336000"),
    (3, 404, True, True, "model_not_found"),
    (336003, 400, False, False, "336003"),
    (336007, 400, False, False, "context_length_exceeded"),
    (100, 400, False, False, "100"),
])
def test_error_code_mapping(code: int, status: int, retryable: bool, fault: bool, err_code: str) -> None:
    err = baidu_error(code, "msg")
    assert (err.status, err.retryable, err.channel_fault, err.code) == (status, retryable, fault, err_code)
    assert parse_error(200, orjson.dumps({"error_code": str(code), "error_msg": "msg"})).status == status


def test_http_errors_without_an_error_code() -> None:
    assert parse_error(401, b'{"error":"invalid_client","error_description":"unknown client id"}').code \
        == "upstream_auth_failed"
    err = parse_error(502, b"<html>bad gateway</html>")
    assert err.status == 502 and err.retryable


# --- the token cache ----------------------------------------------------------------------------


class FakeFetch:
    def __init__(self, delay: float = 0.01, fail: Exception | None = None) -> None:
        self.calls = 0
        self.delay = delay
        self.fail = fail

    async def __call__(self) -> tuple[str, float]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return f"token-{self.calls}", 3600.0


async def test_fifty_concurrent_requests_share_one_fetch() -> None:
    cache, fetch = TokenCache(), FakeFetch()
    tokens = await asyncio.gather(*(cache.get("k", fetch) for _ in range(50)))
    assert set(tokens) == {"token-1"} and fetch.calls == 1 == cache.fetches
    assert await cache.get("k", fetch) == "token-1" and fetch.calls == 1  # cached
    other = await cache.get("other-channel", fetch)
    assert other == "token-2" and fetch.calls == 2  # per (channel, key)


async def test_refresh_after_expiry_is_fetched_once_for_all_who_saw_it() -> None:
    cache, fetch = TokenCache(), FakeFetch()
    stale = await cache.get("k", fetch)
    fresh = await asyncio.gather(*(cache.refresh("k", stale, fetch) for _ in range(50)))
    assert set(fresh) == {"token-2"} and fetch.calls == 2
    late = await cache.refresh("k", stale, fetch)  # a straggler with the old token: no new fetch
    assert late == "token-2" and fetch.calls == 2


async def test_stale_before_expiry_margin_and_failures_are_shared_not_cached() -> None:
    now = [0.0]
    cache, fetch = TokenCache(clock=lambda: now[0]), FakeFetch()
    await cache.get("k", fetch)
    now[0] = 3600 - 361  # a tenth of the lifetime before expiry: still fresh
    assert await cache.get("k", fetch) == "token-1"
    now[0] = 3600 - 359
    assert await cache.get("k", fetch) == "token-2"
    failing = FakeFetch(fail=RuntimeError("refused"))
    results = await asyncio.gather(*(cache.get("bad", failing) for _ in range(10)), return_exceptions=True)
    assert failing.calls == 1 and all(isinstance(r, RuntimeError) for r in results)
    failing.fail = None
    assert await cache.get("bad", failing) == "token-2"  # the failure was not cached


async def test_a_caller_that_leaves_does_not_cancel_the_fetch_for_others() -> None:
    cache, fetch = TokenCache(), FakeFetch(delay=0.05)
    leaving = asyncio.ensure_future(cache.get("k", fetch))
    staying = asyncio.ensure_future(cache.get("k", fetch))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == "token-1" and fetch.calls == 1
