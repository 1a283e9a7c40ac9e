"""A canonical (OpenAI) chat completion -> an Anthropic ``message`` (protocol notes §6.4).

``reasoning_content`` -> a thinking block (no signature exists for it), text -> a text block,
``tool_calls`` / legacy ``function_call`` -> ``tool_use`` blocks with the arguments parsed into
an object. Finish reasons invert the forward table: stop -> end_turn, length -> max_tokens,
tool_calls -> tool_use, content_filter -> refusal. Usage splits the cached prompt tokens back
out: ``input_tokens`` excludes cache reads and writes, as Anthropic reports it.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from relaygate.providers.base import Usage

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}


def message_id(openai_id: Any) -> str:
    text = str(openai_id or "")
    for prefix in ("chatcmpl-", "msg_"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return "msg_" + (text or os.urandom(12).hex())


def tool_input(arguments: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def anthropic_usage(usage: Usage | None) -> dict[str, int]:
    usage = usage or Usage()
    return {"input_tokens": max(0, usage.prompt_tokens - usage.cache_read_tokens - usage.cache_write_tokens),
            "cache_creation_input_tokens": usage.cache_write_tokens,
            "cache_read_input_tokens": usage.cache_read_tokens, "output_tokens": usage.completion_tokens}


def to_message(completion: dict[str, Any], model: str, usage: Usage | None) -> dict[str, Any]:
    choices = completion.get("choices") if isinstance(completion.get("choices"), list) else []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    msg = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[dict[str, Any]] = []
    if isinstance(msg.get("reasoning_content"), str) and msg["reasoning_content"]:
        content.append({"type": "thinking", "thinking": msg["reasoning_content"], "signature": ""})
    text = msg.get("content") if isinstance(msg.get("content"), str) else msg.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = [c for c in msg.get("tool_calls") or () if isinstance(c, dict)]
    if isinstance(msg.get("function_call"), dict):
        calls.append({"id": "toolu_" + os.urandom(12).hex(), "function": msg["function_call"]})
    for call in calls:
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        content.append({"type": "tool_use", "id": str(call.get("id") or "toolu_" + os.urandom(12).hex()),
                        "name": str(fn.get("name") or ""), "input": tool_input(fn.get("arguments"))})
    return {"id": message_id(completion.get("id")), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
            "stop_sequence": None, "usage": anthropic_usage(usage)}
