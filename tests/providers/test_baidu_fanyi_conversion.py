"""Baidu Fanyi: sign, language codes both ways, several texts in one request, errors sent with 200."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from relaygate.providers.baidu_fanyi import FanyiTranslator
from relaygate.providers.baidu_fanyi.translator import baidu_lang, fanyi_error, iso_lang, split_key
from relaygate.providers.base import TranslationJob, UpstreamFailure
from relaygate.state.snapshot import ChannelInfo

TRANSLATOR = FanyiTranslator()


def channel() -> ChannelInfo:
    return ChannelInfo(id=6, name="f", type="baidu-fanyi", base_url="https://fanyi-api.baidu.com", keys=("a|s",),
                       models=frozenset(), model_mapping={}, groups=frozenset({"default"}), priority=0, weight=1,
                       status="enabled", config={}, timeout_s=None)


@pytest.mark.parametrize(("iso", "baidu"), [
    ("ja", "jp"), ("ko", "kor"), ("fr", "fra"), ("es", "spa"), ("zh", "zh"), ("ZH-HANS", "zh"), ("zh-TW", "cht"),
    ("zh-hant", "cht"), ("en-US", "en"), ("EN-GB", "en"), ("de", "de"), ("ar", "ara"), ("vi", "vie"), (None, "auto"),
])
def test_language_codes(iso: str | None, baidu: str) -> None:
    assert baidu_lang(iso) == baidu


@pytest.mark.parametrize(("baidu", "iso"), [("jp", "JA"), ("kor", "KO"), ("fra", "FR"), ("cht", "ZH"), ("en", "EN"),
                                            ("zh", "ZH"), ("spa", "ES")])
def test_detected_language_back_to_iso(baidu: str, iso: str) -> None:
    assert iso_lang(baidu) == iso


def test_signed_form() -> None:
    up = TRANSLATOR.build_translate(channel(), "20240001|sec", TranslationJob(["Hello", "a\nb"], "ja"))
    assert up.url == "https://fanyi-api.baidu.com/api/trans/vip/translate"
    form = {k: v[0] for k, v in parse_qs(up.body.decode()).items()}
    assert form["q"] == "Hello\na\nb" and form["from"] == "auto" and form["to"] == "jp" and form["appid"] == "20240001"
    expected = hashlib.md5(("20240001" + form["q"] + form["salt"] + "sec").encode()).hexdigest()
    assert form["sign"] == expected


def test_results_matched_back_to_texts_and_lines() -> None:
    job = TranslationJob(["Hello", "one\n\ntwo", ""], "ja")
    body: dict[str, Any] = {"from": "en", "to": "jp", "trans_result": [
        {"src": "Hello", "dst": "こんにちは"}, {"src": "one", "dst": "一"}, {"src": "two", "dst": "二"}]}
    out = TRANSLATOR.parse_translate(job, orjson.dumps(body))
    assert [t.text for t in out] == ["こんにちは", "一\n\n二", ""] and out[0].detected_source == "EN"


@pytest.mark.parametrize(("code", "status", "err_code"), [
    ("54001", 502, "upstream_auth_failed"), ("52003", 502, "upstream_auth_failed"),
    ("54003", 429, "rate_limit_exceeded"), ("54004", 429, "upstream_quota_exceeded"),
    ("58001", 400, "58001"), ("54000", 400, "54000"), ("52001", 503, "overloaded"), ("52002", 503, "overloaded"),
    ("99999", 500, "99999"),
])
def test_errors(code: str, status: int, err_code: str) -> None:
    err = fanyi_error(code, "msg")
    assert (err.status, err.code) == (status, err_code)
    body = orjson.dumps({"error_code": int(code), "error_msg": "msg"})
    with pytest.raises(UpstreamFailure) as info:
        TRANSLATOR.parse_translate(TranslationJob(["x"], "en"), body)
    assert info.value.error.status == status
    assert TRANSLATOR.parse_error(status, body).status == status


def test_success_code_and_key_format() -> None:
    body = orjson.dumps({"error_code": "52000", "from": "zh", "to": "en", "trans_result": [{"src": "你好",
                                                                                             "dst": "Hello"}]})
    assert TRANSLATOR.parse_translate(TranslationJob(["你好"], "en"), body)[0].text == "Hello"
    with pytest.raises(UpstreamFailure):
        split_key("no-secret")
