"""Anthropic ``message`` -> OpenAI ``chat.completion`` (see the protocol notes §6.2).

Text blocks are concatenated into ``content``; ``tool_use`` blocks become ``tool_calls`` (or a
legacy ``function_call`` when the caller used ``functions``), except the JSON-mode tool whose
input *is* the answer (see :mod:`.tools`); thinking blocks are exposed as ``reasoning_content``
(the DeepSeek-style field OpenAI-compatible clients read).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from relaygate.providers.anthropic.tools import ReplyShape
from relaygate.providers.anthropic.usage import openai_usage, usage_from_anthropic
from relaygate.providers.base import Usage

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
           "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}


def finish_reason(stop_reason: Any, calls: bool, shape: ReplyShape) -> str:
    reason = _FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    if reason == "tool_calls" and not calls:
        return "stop"  # only the JSON-mode tool was used: that is the answer
    if reason == "tool_calls" and shape.legacy:
        return "function_call"
    return reason


def json_answer(block_input: Any, shape: ReplyShape) -> str:
    value = block_input.get("value") if shape.wrapped and isinstance(block_input, dict) else block_input
    return orjson.dumps(value if value is not None else {}).decode()


def to_openai(msg: dict[str, Any], shape: ReplyShape) -> tuple[dict[str, Any], Usage | None]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thinking.append(block["thinking"])
        elif kind == "tool_use":
            if shape.json_tool is not None and block.get("name") == shape.json_tool:
                texts.append(json_answer(block.get("input"), shape))
                continue
            calls.append({"id": str(block.get("id") or ""), "type": "function",
                          "function": {"name": str(block.get("name") or ""),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls and shape.legacy:
        message["function_call"] = calls[0]["function"]
    elif calls:
        message["tool_calls"] = calls
    usage = usage_from_anthropic(msg.get("usage"))
    out: dict[str, Any] = {
        "id": str(msg.get("id") or ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(msg.get("model") or ""),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason(msg.get("stop_reason"), bool(calls), shape)}],
    }
    if usage is not None:
        out["usage"] = openai_usage(usage)
    return out, usage


def message_text(msg: dict[str, Any]) -> str:
    """Everything generated, for counting tokens locally when the upstream reported none."""
    parts: list[str] = []
    for block in msg.get("content") or ():
        if isinstance(block, dict):
            for field in ("text", "thinking", "name"):
                if isinstance(block.get(field), str):
                    parts.append(block[field])
            if block.get("type") == "tool_use":
                parts.append(orjson.dumps(block.get("input") or {}).decode())
    return "".join(parts)
