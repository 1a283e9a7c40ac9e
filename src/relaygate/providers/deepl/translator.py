"""DeepL API v2 ``POST /v2/translate`` (protocol notes translation.md §1).

``Authorization: DeepL-Auth-Key <key>``, a JSON body ``{"text": [...], "target_lang", "source_lang"?,
...options}``, an answer ``{"translations": [{"detected_source_language", "text"}]}`` in input
order. Free keys end in ``:fx`` and belong to ``api-free.deepl.com``: a channel left on the Pro
default host sends them there. Targets are normalised: upper case, ``EN`` -> ``EN-US``, ``PT`` ->
``PT-BR``, ``ZH-CN`` -> ``ZH-HANS``, ``ZH-TW`` -> ``ZH-HANT``; sources lose their region (``EN-US``
-> ``EN``), as DeepL wants.
"""

from __future__ import annotations

from typing import Any

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

PRO_HOST = "https://api.deepl.com"
FREE_HOST = "https://api-free.deepl.com"
OPTIONS = ("formality", "split_sentences", "preserve_formatting", "tag_handling", "glossary_id", "context",
           "model_type", "show_billed_characters", "outline_detection", "non_splitting_tags", "splitting_tags",
           "ignore_tags")
_TARGETS = {"EN": "EN-US", "PT": "PT-BR", "ZH-CN": "ZH-HANS", "ZH-SG": "ZH-HANS", "ZH-TW": "ZH-HANT",
            "ZH-HK": "ZH-HANT"}


def deepl_target(code: str) -> str:
    code = code.strip().upper().replace("_", "-")
    return _TARGETS.get(code, code)


def deepl_source(code: str | None) -> str | None:
    if not code:
        return None
    return code.strip().upper().replace("_", "-").split("-", 1)[0]


def malformed() -> UpstreamFailure:
    return UpstreamFailure(UpstreamError(502, "The translation upstream returned a malformed answer.",
                                         "upstream_error", "bad_upstream_response", True, True))


class DeepLTranslator:
    def build_translate(self, channel: ChannelInfo, key: str, job: TranslationJob) -> UpstreamRequest:
        base = channel.base_url
        if key.endswith(":fx") and base == PRO_HOST:
            base = FREE_HOST
        body: dict[str, Any] = {"text": job.texts, "target_lang": deepl_target(job.target)}
        source = deepl_source(job.source)
        if source:
            body["source_lang"] = source
        body.update({k: v for k, v in job.options.items() if k in OPTIONS})
        return UpstreamRequest(url=base + "/v2/translate", body=orjson.dumps(body),
                               headers={"Content-Type": "application/json", "Authorization": f"DeepL-Auth-Key {key}"})

    def parse_translate(self, job: TranslationJob, body: bytes) -> list[Translation]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed() from None
        items = data.get("translations") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(job.texts):
            raise malformed()
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise malformed()
            out.append(Translation(item["text"], str(item.get("detected_source_language") or "").upper()))
        return out

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return deepl_error(status, body)


def deepl_error(status: int, body: bytes) -> UpstreamError:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    message = str(data.get("message") or "") if isinstance(data, dict) else body[:200].decode("utf-8", "replace")
    if isinstance(data, dict) and data.get("detail"):
        message = f"{message} ({data['detail']})"
    message = message or f"upstream returned HTTP {status}"
    retryable, fault = classify_status(status)
    if status in (401, 403):
        return UpstreamError(502, f"upstream rejected the channel credentials ({status}): {message}",
                             "upstream_error", "upstream_auth_failed", True, True)
    if status == 456:
        return UpstreamError(429, f"the upstream account's character quota is used up: {message}", "requests",
                             "upstream_quota_exceeded", True, True)
    if status in (429, 529):
        return UpstreamError(429, message, "requests", "rate_limit_exceeded", True, False)
    if status >= 500:
        return UpstreamError(status, message, "server_error", None, retryable, fault)
    return UpstreamError(status, message, "invalid_request_error", None, retryable, fault)
