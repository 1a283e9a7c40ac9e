"""Qianfan v1 whole answers -> OpenAI ``chat.completion`` (protocol notes §2.2, §5).

``result`` is the text; a ``function_call`` becomes one tool call (or the legacy
``function_call`` for callers that sent ``functions``). ``finish_reason``: a function call ->
``tool_calls``; ``is_truncated`` or ``length`` -> ``length``; ``need_clear_history`` (the turn was
judged unsafe) or ``content_filter`` -> ``content_filter``; otherwise ``stop``. Usage is copied.
"""

from __future__ import annotations

import os
import time
from typing import Any

from relaygate.providers.base import Usage
from relaygate.providers.openai.chunks import openai_usage
from relaygate.providers.openai.usage import usage_from_openai


def call_id() -> str:
    return "call_" + os.urandom(12).hex()


def legacy_caller(body: dict[str, Any]) -> bool:
    return bool(body.get("functions")) and not body.get("tools")


def tool_call(fc: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id(), "type": "function",
            "function": {"name": str(fc.get("name") or ""), "arguments": str(fc.get("arguments") or "{}")}}


def finish_reason(data: dict[str, Any], called: bool, legacy: bool) -> str:
    if called:
        return "function_call" if legacy else "tool_calls"
    reason = data.get("finish_reason")
    if data.get("is_truncated") is True or reason == "length":
        return "length"
    if data.get("need_clear_history") is True or reason == "content_filter":
        return "content_filter"
    return "stop"


def to_openai(data: dict[str, Any], model: str, legacy: bool) -> tuple[dict[str, Any], Usage | None]:
    fc = data.get("function_call") if isinstance(data.get("function_call"), dict) else None
    text = data.get("result") if isinstance(data.get("result"), str) else ""
    message: dict[str, Any] = {"role": "assistant", "content": text if text or fc is None else None,
                               "refusal": None}
    if fc is not None:
        call = tool_call(fc)
        if legacy:
            message["function_call"] = call["function"]
        else:
            message["tool_calls"] = [call]
    usage = usage_from_openai(data.get("usage"))
    out: dict[str, Any] = {"id": str(data.get("id") or call_id().replace("call_", "as-")),
                           "object": "chat.completion",
                           "created": data["created"] if isinstance(data.get("created"), int) else int(time.time()),
                           "model": model,
                           "choices": [{"index": 0, "message": message, "logprobs": None,
                                        "finish_reason": finish_reason(data, fc is not None, legacy)}]}
    if usage is not None:
        out["usage"] = openai_usage(usage)
    return out, usage


def answer_text(data: dict[str, Any]) -> str:
    fc = data.get("function_call") if isinstance(data.get("function_call"), dict) else {}
    return str(data.get("result") or "") + str(fc.get("name") or "") + str(fc.get("arguments") or "")
