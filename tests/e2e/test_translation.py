"""Translation: chat models (deepl-zh, baidu-fanyi-ja) and DeepL's POST /v2/translate, billed per character."""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest

from tests.conftest import DEEPL_KEY, FANYI_KEY
from tests.gateway import Gateway, micro, unique_model

PER_CHAR = "20.00"  # per 1M characters -> 20 micro-units a character


def _group_key(gw: Gateway, balance: str = "10.00") -> tuple[str, dict, dict]:
    """A user in a group of its own, so the fixed model name ``deepl`` routes to this test's channels."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    user = gw.user(balance, group=group)
    return group, user, gw.key(user["id"])


def _deepl_channel(gw: Gateway, sim, models: list[str] | None = None, key: str = DEEPL_KEY, **fields):  # type: ignore[no-untyped-def]
    return gw.channel(sim.base_url, models if models is not None else [], keys=[key], type="deepl", **fields)


def _translate(gw: Gateway, key: str, auth: str = "DeepL-Auth-Key", **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{gw.url}/v2/translate", headers={"Authorization": f"{auth} {key}"}, timeout=30, **kwargs)


def test_chat_model_translates_the_last_user_message_billed_per_character(gateway: Gateway, deepl_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("deepl-zh")
    channel = _deepl_channel(gateway, deepl_sim, model_mapping={model: "deepl-zh"})
    gateway.price(model, "0", "0", per_character=PER_CHAR)
    user, key = gateway.funded_key("1.00")
    reply = gateway.client(key["key"]).chat.completions.create(model=model, messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "Hello"}])
    assert reply.choices[0].message.content == "你好" and reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 0)
    seen = deepl_sim.requests[-1]
    assert seen.path == "/v2/translate" and seen.headers["authorization"] == f"DeepL-Auth-Key {DEEPL_KEY}"
    assert seen.json == {"text": ["Hello"], "target_lang": "ZH"}
    [rec] = gateway.logs(key_id=key["id"])
    assert rec["channel_id"] == channel["id"] and rec["endpoint"] == "chat.completions"
    assert (rec["prompt_tokens"], rec["completion_tokens"], micro(rec["cost"])) == (5, 0, 5 * 20)
    assert micro(gateway.get_user(user["id"])["balance"]) == 1_000_000 - 100


@pytest.mark.parametrize(("upstream", "target"), [("deepl-en", "EN-US"), ("deepl-ja", "JA"), ("deepl-pt", "PT-BR"),
                                                  ("deepl-zh-hant", "ZH-HANT"), ("deepl", "ZH")])
def test_target_language_from_the_model_name(gateway: Gateway, deepl_sim, upstream: str, target: str) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("tr")
    _deepl_channel(gateway, deepl_sim, model_mapping={model: upstream})
    gateway.price(model, "0", "0", per_character=PER_CHAR)
    _user, key = gateway.funded_key("1.00")
    gateway.client(key["key"]).chat.completions.create(model=model, messages=[{"role": "user", "content": "你好"}])
    assert deepl_sim.requests[-1].json["target_lang"] == target


def test_chat_stream_is_one_answer_and_matches_the_whole(gateway: Gateway, deepl_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("deepl-de")
    _deepl_channel(gateway, deepl_sim, model_mapping={model: "deepl-de"})
    gateway.price(model, "0", "0", per_character=PER_CHAR)
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    messages = [{"role": "user", "content": "Good night"}]
    whole = client.chat.completions.create(model=model, messages=messages)
    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == whole.choices[0].message.content == "Gute Nacht" and finish == "stop"
    assert usage.prompt_tokens == 10 == whole.usage.prompt_tokens
    records = gateway.logs(key_id=key["id"])
    assert [micro(r["cost"]) for r in records] == [200, 200] and records[0]["stream"] is True


def test_baidu_fanyi_chat_model_signs_and_maps_languages(gateway: Gateway, fanyi_sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model("fanyi-ja")
    gateway.channel(fanyi_sim.base_url, [], keys=[FANYI_KEY], type="baidu-fanyi",
                    model_mapping={model: "baidu-fanyi-ja"})
    gateway.price(model, "0", "0", per_character="10.00")
    _user, key = gateway.funded_key("1.00")
    client = gateway.client(key["key"])
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Thank you\n\nHello"}])
    assert reply.choices[0].message.content == "ありがとう\n\nこんにちは"
    seen = fanyi_sim.requests[-1]
    assert seen.path == "/api/trans/vip/translate" and seen.method == "POST"
    assert "sign=" in seen.body.decode() and "to=jp" in seen.body.decode() and "from=auto" in seen.body.decode()
    assert micro(gateway.logs(key_id=key["id"])[0]["cost"]) == 16 * 10
    fanyi_sim.knobs.fail_next = 1
    fanyi_sim.knobs.fail_code = 54003  # access limit, sent with HTTP 200
    with pytest.raises(openai.RateLimitError):
        list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], stream=True))


def test_v2_translate_speaks_deepl_and_bills_characters(gateway: Gateway, deepl_sim) -> None:  # type: ignore[no-untyped-def]
    group, user, key = _group_key(gateway)
    channel = _deepl_channel(gateway, deepl_sim, ["deepl"], group=group)
    gateway.price("deepl", "0", "0", per_character=PER_CHAR)
    resp = _translate(gateway, key["key"], json={"text": ["Hello", "How are you?"], "target_lang": "de"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"translations": [{"detected_source_language": "EN", "text": "Hallo"},
                                            {"detected_source_language": "EN", "text": "[DE] How are you?"}]}
    assert deepl_sim.requests[-1].json == {"text": ["Hello", "How are you?"], "target_lang": "DE"}
    form = _translate(gateway, key["key"], auth="Bearer",
                      data={"text": ["Thank you", "你好"], "target_lang": "EN-GB", "source_lang": "en",
                            "formality": "more", "show_billed_characters": "1"})
    assert form.status_code == 200, form.text
    assert form.json()["translations"] == [
        {"detected_source_language": "EN", "text": "Thank you", "billed_characters": 9},
        {"detected_source_language": "EN", "text": "Hello", "billed_characters": 2}]
    assert deepl_sim.requests[-1].json == {"text": ["Thank you", "你好"], "target_lang": "EN-GB", "source_lang": "EN",
                                           "formality": "more", "show_billed_characters": "1"}
    records = gateway.logs(key_id=key["id"])
    assert [r["endpoint"] for r in records] == ["translate", "translate"]
    assert sorted(r["prompt_tokens"] for r in records) == [11, 17]
    assert all(r["channel_id"] == channel["id"] and r["model"] == "deepl" for r in records)
    assert sum(micro(r["cost"]) for r in records) == 28 * 20
    assert micro(gateway.get_user(user["id"])["balance"]) == 10_000_000 - 28 * 20


def test_v2_translate_errors_in_deepl_shape(gateway: Gateway, deepl_sim) -> None:  # type: ignore[no-untyped-def]
    group, _user, key = _group_key(gateway, balance="0.000010")  # 10 micro-units: less than one word
    _deepl_channel(gateway, deepl_sim, ["deepl"], group=group)
    gateway.price("deepl", "0", "0", per_character=PER_CHAR)
    cases = [
        (_translate(gateway, "sk-wrong"), 403),
        (_translate(gateway, key["key"], json={"text": ["Hello"]}), 400),
        (_translate(gateway, key["key"], json={"target_lang": "DE"}), 400),
        (_translate(gateway, key["key"], json={"text": ["Hello"], "target_lang": "DE", "model": "no-such"}), 404),
        (_translate(gateway, key["key"], json={"text": ["Hello"], "target_lang": "DE"}), 456),  # balance too low
        (httpx.get(f"{gateway.url}/v2/translate", timeout=10), 405),
    ]
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        assert set(resp.json()) == {"message"} and resp.json()["message"]
    _group2, _user2, rich = _group_key(gateway)
    _deepl_channel(gateway, deepl_sim, ["deepl"], group=_group2, key="deepl-key-wrong")
    refused = _translate(gateway, rich["key"], json={"text": ["Hello"], "target_lang": "DE"})
    assert refused.status_code == 502 and "credentials (403)" in refused.json()["message"]


def test_v2_translate_routes_by_model_and_fails_over(gateway: Gateway, deepl_sim, fanyi_sim, sim) -> None:  # type: ignore[no-untyped-def]
    group, _user, key = _group_key(gateway)
    gateway.price("deepl", "0", "0", per_character=PER_CHAR)
    # a chat channel serving the name is skipped; a DeepL channel out of quota fails over to Baidu Fanyi
    gateway.channel(sim.base_url, ["deepl"], group=group, priority=30)
    _deepl_channel(gateway, deepl_sim, ["deepl"], group=group, priority=20)
    fanyi = gateway.channel(fanyi_sim.base_url, ["deepl"], keys=[FANYI_KEY], type="baidu-fanyi", group=group,
                            priority=10)
    deepl_sim.knobs.fail_next = 1
    deepl_sim.knobs.fail_status = 456
    resp = _translate(gateway, key["key"], json={"text": ["Hello", "line one\nline two"], "target_lang": "ja"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["translations"] == [{"detected_source_language": "EN", "text": "こんにちは"},
                                           {"detected_source_language": "EN",
                                            "text": "[JA] line one\n[JA] line two"}]
    rec = gateway.logs(key_id=key["id"])[0]
    assert rec["channel_id"] == fanyi["id"] and rec["tries"] == 3 and rec["prompt_tokens"] == 22
    # the model field picks another translation model
    model = unique_model("fanyi")
    gateway.channel(fanyi_sim.base_url, [], keys=[FANYI_KEY], type="baidu-fanyi", group=group,
                    model_mapping={model: "baidu-fanyi"})
    gateway.price(model, "0", "0", per_character="0.40")
    resp = _translate(gateway, key["key"], json={"text": ["谢谢"], "target_lang": "EN-US", "model": model})
    assert resp.json()["translations"] == [{"detected_source_language": "ZH", "text": "Thank you"}]
    assert micro(gateway.logs(key_id=key["id"])[0]["cost"]) == 1  # 2 characters at 0.40 per 1M: 0.8, rounded up


def test_channel_test_endpoint_on_translation_channels(gateway: Gateway, deepl_sim, fanyi_sim) -> None:  # type: ignore[no-untyped-def]
    deepl = _deepl_channel(gateway, deepl_sim, ["deepl-en"])
    assert gateway.api("POST", f"/api/channels/{deepl['id']}/test")["ok"] is True
    fanyi = gateway.channel(fanyi_sim.base_url, ["baidu-fanyi-en"], keys=["20240001|wrong"], type="baidu-fanyi")
    result = gateway.api("POST", f"/api/channels/{fanyi['id']}/test")
    assert result["ok"] is False and "Invalid Sign" in result["error"]
