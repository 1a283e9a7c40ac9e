"""DeepL: language codes, the /v2/translate request both ways, errors, and the chat-model shim."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.api.errors import GatewayError
from relaygate.api.translate.inbound import DEEPL_TRANSLATE, deepl_status
from relaygate.api.translate.request import parse_translate
from relaygate.billing.pricing import cost_of, prompt_characters, worst_case_cost
from relaygate.providers.base import ChatRequest, TranslationJob, UpstreamFailure, Usage
from relaygate.providers.deepl import DeepLTranslator, TranslationChatAdapter
from relaygate.providers.deepl.chat import target_of
from relaygate.providers.deepl.translator import deepl_error, deepl_source, deepl_target
from relaygate.state.snapshot import ChannelInfo, PriceInfo

TRANSLATOR = DeepLTranslator()
CHAT = TranslationChatAdapter(TRANSLATOR)


def channel(base_url: str = "https://api.deepl.com", **config: Any) -> ChannelInfo:
    return ChannelInfo(id=5, name="d", type="deepl", base_url=base_url, keys=("k",), models=frozenset(),
                       model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1, status="enabled",
                       config=config, timeout_s=None)


def chat_req(messages: list[dict[str, Any]], model: str = "deepl-zh", stream: bool = False,
             wants_usage: bool = False) -> ChatRequest:
    return ChatRequest(body={"model": model, "messages": messages}, model=model, stream=stream, wants_usage=wants_usage,
                       upstream_model=model)


@pytest.mark.parametrize(("code", "target", "source"), [
    ("zh", "ZH", "ZH"), ("en", "EN-US", "EN"), ("en-gb", "EN-GB", "EN"), ("pt", "PT-BR", "PT"),
    ("ZH_CN", "ZH-HANS", "ZH"), ("zh-tw", "ZH-HANT", "ZH"), ("ja", "JA", "JA"), ("de", "DE", "DE"),
])
def test_language_codes(code: str, target: str, source: str) -> None:
    assert deepl_target(code) == target and deepl_source(code) == source


@pytest.mark.parametrize(("model", "target"), [
    ("deepl-zh", "zh"), ("deepl-en-gb", "en-gb"), ("deepl", "ZH"), ("baidu-fanyi-ja", "ja"), ("fanyi-ko", "ko"),
    ("deepl_de", "de"),
])
def test_target_from_model_name(model: str, target: str) -> None:
    assert target_of(model, {}) == target
    assert target_of("deepl", {"target_lang": "FR"}) == "FR"


def test_request_body_host_and_options() -> None:
    job = TranslationJob(["Hello"], "en", "de", {"formality": "less", "bogus": 1})
    up = TRANSLATOR.build_translate(channel(), "key-1", job)
    assert up.url == "https://api.deepl.com/v2/translate"
    assert up.headers["Authorization"] == "DeepL-Auth-Key key-1"
    assert orjson.loads(up.body) == {"text": ["Hello"], "target_lang": "EN-US", "source_lang": "DE",
                                     "formality": "less"}
    assert TRANSLATOR.build_translate(channel(), "free:fx", job).url == "https://api-free.deepl.com/v2/translate"
    assert TRANSLATOR.build_translate(channel("https://proxy.example"), "free:fx", job).url \
        == "https://proxy.example/v2/translate"


def test_answer_must_match_the_texts() -> None:
    job = TranslationJob(["a", "b"], "de")
    body = orjson.dumps({"translations": [{"detected_source_language": "en", "text": "A"},
                                          {"detected_source_language": "EN", "text": "B"}]})
    assert [(t.text, t.detected_source) for t in TRANSLATOR.parse_translate(job, body)] == [("A", "EN"), ("B", "EN")]
    for bad in (b"{}", b"nope", orjson.dumps({"translations": [{"text": "A"}]})):
        with pytest.raises(UpstreamFailure):
            TRANSLATOR.parse_translate(job, bad)


@pytest.mark.parametrize(("status", "mapped", "code", "retryable"), [
    (403, 502, "upstream_auth_failed", True), (456, 429, "upstream_quota_exceeded", True),
    (429, 429, "rate_limit_exceeded", True), (529, 429, "rate_limit_exceeded", True),
    (400, 400, None, False), (503, 503, None, True),
])
def test_errors(status: int, mapped: int, code: str | None, retryable: bool) -> None:
    err = deepl_error(status, b'{"message":"Quota exceeded"}')
    assert (err.status, err.code, err.retryable) == (mapped, code, retryable) and "Quota exceeded" in err.message


def test_chat_shim_whole_answer_usage_in_characters() -> None:
    req = chat_req([{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
                    {"role": "user", "content": [{"type": "text", "text": "Hello"}]}])
    up = CHAT.build_chat(channel(), "k", req)
    assert orjson.loads(up.body) == {"text": ["Hello"], "target_lang": "ZH"}
    out, usage = CHAT.parse_chat(req, orjson.dumps({"translations": [{"detected_source_language": "EN",
                                                                       "text": "你好"}]}))
    data = orjson.loads(out)
    assert data["choices"][0]["message"]["content"] == "你好" and data["choices"][0]["finish_reason"] == "stop"
    assert usage == Usage(prompt_tokens=5, completion_tokens=0, characters=5)
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}
    with pytest.raises(UpstreamFailure):
        CHAT.build_chat(channel(), "k", chat_req([{"role": "user", "content": "  "}]))


@pytest.mark.parametrize("cut", [1, 9, 1000])
def test_chat_shim_stream_waits_for_the_whole_answer(cut: int) -> None:
    req = chat_req([{"role": "user", "content": "Hello"}], stream=True, wants_usage=True)
    CHAT.build_chat(channel(), "k", req)
    relay = CHAT.stream_relay(req)
    raw = orjson.dumps({"translations": [{"detected_source_language": "EN", "text": "你好"}]})
    outs = [relay.feed(raw[i:i + cut]) for i in range(0, len(raw), cut)]
    assert all(not o for o in outs[:-1]) and relay.done and relay.usage == Usage(5, 0, characters=5)
    events = [e[6:] for e in outs[-1].split(b"\n\n") if e]
    assert events[-1] == b"[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "你好"}
    assert chunks[1]["choices"][0]["finish_reason"] == "stop" and chunks[2]["usage"]["prompt_tokens"] == 5


def _scope(ctype: str) -> dict[str, Any]:
    return {"headers": [(b"content-type", ctype.encode())]}


def test_v2_translate_request_json_and_form() -> None:
    req = parse_translate(b'{"text": ["Hello", "Bye"], "target_lang": "DE", "formality": "more"}',
                          _scope("application/json"))
    assert req.model == "deepl" and not req.stream
    assert req.native == TranslationJob(["Hello", "Bye"], "DE", None, {"formality": "more"})
    assert req.body["messages"] == [{"role": "user", "content": "Hello"}, {"role": "user", "content": "Bye"}]
    form = parse_translate(b"text=Hello&text=Good+night&target_lang=ja&source_lang=EN&model=fanyi",
                           _scope("application/x-www-form-urlencoded; charset=utf-8"))
    assert form.model == "fanyi" and form.native.texts == ["Hello", "Good night"] and form.native.source == "EN"
    single = parse_translate(b'{"text": "one", "target_lang": "FR"}', _scope("application/json"))
    assert single.native.texts == ["one"]


@pytest.mark.parametrize("raw", [b"", b'{"target_lang": "DE"}', b'{"text": [], "target_lang": "DE"}',
                                 b'{"text": ["a"]}', b'{"text": [1], "target_lang": "DE"}', b"[1]", b"{",
                                 b'{"text": ["a"], "target_lang": "DE", "model": 5}'])
def test_v2_translate_request_errors(raw: bytes) -> None:
    with pytest.raises(GatewayError) as info:
        parse_translate(raw, _scope("application/json"))
    assert info.value.status == 400


def test_deepl_error_shape_and_statuses() -> None:
    assert deepl_status(GatewayError(401, "bad key", code="invalid_api_key")) == 403
    assert deepl_status(GatewayError(403, "broke", "insufficient_quota", "insufficient_quota")) == 456
    assert deepl_status(GatewayError(404, "no model", code="model_not_found")) == 404
    status, body = DEEPL_TRANSLATE.error(GatewayError(429, "slow down"))
    assert (status, orjson.loads(body)) == (429, {"message": "slow down"})
    with pytest.raises(UpstreamFailure) as info:  # chat channels serving the name are skipped, not failed
        DEEPL_TRANSLATE.adapter("openai").build_chat(channel(), "k", parse_translate(
            b'{"text": ["a"], "target_lang": "DE"}', _scope("application/json")))
    assert info.value.error.retryable and not info.value.error.channel_fault


def test_characters_use_the_per_character_price_when_set() -> None:
    per_char = PriceInfo(model="deepl", input=1_000_000, output=0, cache_read=None, cache_write=None, per_request=0,
                         max_output_tokens=None, per_character=20_000_000)
    # 13 characters at 20.00 per 1M characters = 260 micro-units; token prices are not added
    assert cost_of(per_char, Usage(prompt_tokens=13, characters=13)) == 260
    # without a per-character price, characters are prompt tokens at the input price
    tokens_only = PriceInfo(model="deepl", input=1_000_000, output=0, cache_read=None, cache_write=None,
                            per_request=0, max_output_tokens=None)
    assert cost_of(tokens_only, Usage(prompt_tokens=13, characters=13)) == 13
    # the reservation covers whichever way the request ends up billed
    assert worst_case_cost(per_char, 4, 0, characters=13) == 260
    assert worst_case_cost(per_char, 1000, 0, characters=13) == 1000
    assert prompt_characters({"messages": [{"role": "user", "content": "你好"}, {"role": "user", "content": [
        {"type": "text", "text": "abc"}, {"type": "image_url", "image_url": {"url": "x"}}]}]}) == 5
