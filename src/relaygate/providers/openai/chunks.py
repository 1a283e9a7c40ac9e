"""OpenAI's wire shapes that the converting adapters write: a usage object and a stream chunk."""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.providers.base import Usage


def openai_usage(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def sse_chunk(chunk_id: str, created: int, model: str, delta: dict[str, Any] | None, index: int = 0,
              finish: str | None = None, usage: dict[str, Any] | None = None) -> bytes:
    """One ``chat.completion.chunk`` event; ``delta=None`` is the choice-less usage chunk."""
    chunk: dict[str, Any] = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                             "choices": [] if delta is None else
                             [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"
