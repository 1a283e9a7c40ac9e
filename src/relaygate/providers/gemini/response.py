"""Gemini ``GenerateContentResponse`` -> OpenAI ``chat.completion`` (protocol notes §6.2).

``finishReason`` is ``STOP`` even when the model called functions, so the finish reason is
``tool_calls`` whenever a candidate holds ``functionCall`` parts. Gemini gives calls no ids (or
optional ones on newer models): ids are made up, ``call_`` + 24 hex. A prompt blocked before
generation (``promptFeedback.blockReason``, no candidates) is a 200 with empty content and
``finish_reason: content_filter``, as OpenAI reports its own content filter.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from relaygate.providers.base import Usage

_FILTERED = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                       "LANGUAGE", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"})


def finish_reason(reason: Any, calls: bool, legacy: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    if calls:
        return "function_call" if legacy else "tool_calls"
    return "stop"


def call_id() -> str:
    return "call_" + os.urandom(12).hex()


def usage_from_gemini(meta: Any) -> Usage | None:
    if not isinstance(meta, dict):
        return None
    prompt = _n(meta.get("promptTokenCount")) + _n(meta.get("toolUsePromptTokenCount"))
    completion = _n(meta.get("candidatesTokenCount")) + _n(meta.get("thoughtsTokenCount"))
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 cache_read_tokens=_n(meta.get("cachedContentTokenCount")))


def openai_usage(usage: Usage, meta: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            "completion_tokens_details": {"reasoning_tokens": _n(meta.get("thoughtsTokenCount"))}}


def _n(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def split_parts(parts: Any) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(text, thoughts, function calls) of a candidate's parts."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            calls.append(part["functionCall"])
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else texts).append(part["text"])
    return texts, thoughts, calls


def tool_call(call: dict[str, Any]) -> dict[str, Any]:
    args = call.get("args") if isinstance(call.get("args"), dict) else {}
    return {"id": str(call.get("id") or call_id()), "type": "function",
            "function": {"name": str(call.get("name") or ""), "arguments": orjson.dumps(args).decode()}}


def to_openai(data: dict[str, Any], model: str, legacy: bool) -> tuple[dict[str, Any], Usage | None]:
    choices = []
    candidates = data.get("candidates") if isinstance(data.get("candidates"), list) else []
    for position, cand in enumerate(candidates):
        if not isinstance(cand, dict):
            continue
        content = cand.get("content") if isinstance(cand.get("content"), dict) else {}
        texts, thoughts, calls = split_parts(content.get("parts"))
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None,
                                   "refusal": None}
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        converted = [tool_call(c) for c in calls]
        if converted and legacy:
            message["function_call"] = converted[0]["function"]
        elif converted:
            message["tool_calls"] = converted
        index = cand.get("index") if isinstance(cand.get("index"), int) else position
        choices.append({"index": index, "message": message, "logprobs": None,
                        "finish_reason": finish_reason(cand.get("finishReason"), bool(calls), legacy)})
    if not choices:
        feedback = data.get("promptFeedback") if isinstance(data.get("promptFeedback"), dict) else {}
        choices.append({"index": 0, "message": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None, "finish_reason": "content_filter" if feedback.get("blockReason") else "stop"})
    meta = data.get("usageMetadata") if isinstance(data.get("usageMetadata"), dict) else {}
    usage = usage_from_gemini(data.get("usageMetadata"))
    out: dict[str, Any] = {"id": "chatcmpl-" + str(data.get("responseId") or os.urandom(12).hex()),
                           "object": "chat.completion", "created": int(time.time()),
                           "model": str(data.get("modelVersion") or model), "choices": choices}
    if usage is not None:
        out["usage"] = openai_usage(usage, meta)
    return out, usage


def response_text(data: dict[str, Any]) -> str:
    parts: list[str] = []
    for cand in data.get("candidates") or ():
        texts, thoughts, calls = split_parts(((cand or {}).get("content") or {}).get("parts"))
        parts.extend(texts + thoughts)
        parts.extend(str(c.get("name")) + orjson.dumps(c.get("args") or {}).decode() for c in calls)
    return "".join(parts)
