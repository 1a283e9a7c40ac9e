"""Baidu Fanyi (百度翻译) general text translation (protocol notes translation.md §2).

``POST <base>/api/trans/vip/translate`` as a form: ``q``, ``from``, ``to``, ``appid``, ``salt`` and
``sign = md5(appid + q + salt + secret)`` over the raw ``q``. The key is ``APPID|SECRET_KEY``.
Several texts go in one request, joined by newlines (Baidu translates line by line); the results
are matched back to the lines by order, empty lines kept empty, so each text gets its own
translation. Baidu's language codes differ from ISO's (``jp``, ``kor``, ``fra``, ``spa``, ``cht``...):
codes are mapped both ways. Errors come with HTTP 200 and a (usually string) ``error_code``.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import orjson

from relaygate.providers.base import (
    Translation,
    TranslationJob,
    UpstreamError,
    UpstreamFailure,
    UpstreamRequest,
    classify_status,
)
from relaygate.state.snapshot import ChannelInfo

PATH = "/api/trans/vip/translate"
SUCCESS = "52000"
_TO_BAIDU = {"ja": "jp", "ko": "kor", "fr": "fra", "es": "spa", "ar": "ara", "vi": "vie", "bg": "bul",
             "et": "est", "da": "dan", "fi": "fin", "ro": "rom", "sl": "slo", "sv": "swe", "zh-hant": "cht",
             "zh-tw": "cht", "zh-hk": "cht", "zh-hans": "zh", "zh-cn": "zh"}
_FROM_BAIDU = {v: k.split("-")[0] for k, v in _TO_BAIDU.items()} | {"cht": "zh", "yue": "zh", "wyw": "zh"}


def baidu_lang(code: str | None) -> str:
    if not code:
        return "auto"
    code = code.strip().lower().replace("_", "-")
    if code in _TO_BAIDU:
        return _TO_BAIDU[code]
    primary = code.split("-", 1)[0]
    return _TO_BAIDU.get(primary, primary)


def iso_lang(code: str) -> str:
    code = code.strip().lower()
    return _FROM_BAIDU.get(code, code).upper()


def split_key(key: str) -> tuple[str, str]:
    appid, _, secret = key.partition("|")
    if not appid.strip() or not secret.strip():
        raise UpstreamFailure(UpstreamError(502, "the channel key must be APPID|SECRET_KEY (Baidu Fanyi)",
                                            "upstream_error", "channel_misconfigured", True, True))
    return appid.strip(), secret.strip()


def sign(appid: str, q: str, salt: str, secret: str) -> str:
    return hashlib.md5((appid + q + salt + secret).encode(), usedforsecurity=False).hexdigest()


def error_of(data: Any) -> tuple[str, str] | None:
    if not isinstance(data, dict) or "error_code" not in data:
        return None
    code = str(data["error_code"])
    return None if code in (SUCCESS, "0") else (code, str(data.get("error_msg") or ""))


def fanyi_error(code: str, message: str) -> UpstreamError:
    message = f"{message or 'error'} (Baidu Fanyi {code})"
    if code in ("52003", "54001", "90107"):
        return UpstreamError(502, f"upstream rejected the channel credentials: {message}", "upstream_error",
                             "upstream_auth_failed", True, True)
    if code == "58000":
        return UpstreamError(502, f"upstream refused this server's address: {message}", "upstream_error",
                             "upstream_auth_failed", True, True)
    if code == "54004":
        return UpstreamError(429, f"the upstream account's balance is used up: {message}", "requests",
                             "upstream_quota_exceeded", True, True)
    if code in ("54003", "54005"):
        return UpstreamError(429, message, "requests", "rate_limit_exceeded", True, False)
    if code in ("52001", "52002", "58002"):
        return UpstreamError(503, message, "server_error", "overloaded", True, True)
    if code in ("54000", "58001"):
        return UpstreamError(400, message, "invalid_request_error", code)
    return UpstreamError(500, message, "server_error", code, True, True)


def status_of(code: str) -> int:
    return fanyi_error(code, "").status


def malformed() -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(502, "The translation upstream returned a malformed answer.",
                                         "upstream_error", "bad_upstream_response", True, True))


class FanyiTranslator:
    def build_translate(self, channel: ChannelInfo, key: str, job: TranslationJob) -> UpstreamRequest:
        appid, secret = split_key(key)
        q = "\n".join(job.texts)
        salt = str(secrets.randbelow(10**9))
        form = {"q": q, "from": baidu_lang(job.source), "to": baidu_lang(job.target), "appid": appid,
                "salt": salt, "sign": sign(appid, q, salt, secret)}
        return UpstreamRequest(url=channel.base_url + PATH, body=urlencode(form).encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})

    def parse_translate(self, job: TranslationJob, body: bytes) -> list[Translation]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed() from None
        err = error_of(data)
        if err is not None:
            raise UpstreamFailure(fanyi_error(*err))
        results = data.get("trans_result") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise malformed()
        detected = iso_lang(str(data.get("from") or ""))
        queue = [str(r.get("dst") or "") for r in results if isinstance(r, dict)]
        out = []
        for text in job.texts:
            lines = []
            for line in text.split("\n"):
                lines.append(queue.pop(0) if line.strip() and queue else "")
            out.append(Translation("\n".join(lines), detected))
        return out

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        try:
            err = error_of(orjson.loads(body))
        except orjson.JSONDecodeError:
            err = None
        if err is not None:
            return fanyi_error(*err)
        retryable, fault = classify_status(status)
        return UpstreamError(502 if status in (401, 403) else status, f"upstream returned HTTP {status}",
                             "upstream_error", None, retryable, fault)
