"""Reading an OpenAI chat stream through the official SDK, as the provider end-to-end tests do."""

from __future__ import annotations

from typing import Any

import openai

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def read_stream(client: openai.OpenAI, **kwargs: Any) -> tuple[str, str, str | None, Any, list[dict]]:
    """(text, reasoning, finish reason, usage, tool calls merged from their deltas by index)."""
    text, reasoning, finish, usage = "", "", None, None
    calls: dict[int, dict] = {}
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            text += choice.delta.content or ""
            reasoning += (choice.delta.model_extra or {}).get("reasoning_content") or ""
            for tc in choice.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = tc.id or slot["id"]
                if tc.function:
                    slot["name"] += tc.function.name or ""
                    slot["arguments"] += tc.function.arguments or ""
    return text, reasoning, finish, usage, [calls[i] for i in sorted(calls)]


def read_stream_deltas(client: openai.OpenAI, **kwargs: Any) -> tuple[str, str | None, Any, list[Any]]:
    """(text, finish reason, usage, the tool-call deltas as they came)."""
    text, finish, usage, calls = "", None, None, []
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            text += choice.delta.content or ""
            calls.extend(choice.delta.tool_calls or [])
    return text, finish, usage, calls
