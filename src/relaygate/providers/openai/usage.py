"""Reads an OpenAI ``usage`` object into the canonical Usage."""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import Usage


def usage_from_openai(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    cache_write = _int(details.get("cache_write_tokens")) if isinstance(details, dict) else 0
    if not completion and not prompt and usage.get("total_tokens"):
        prompt = _int(usage.get("total_tokens"))  # embeddings-style usage
    return Usage(prompt_tokens=prompt, completion_tokens=completion, cache_read_tokens=cached,
                 cache_write_tokens=cache_write)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
