"""Anthropic ``usage`` objects into the canonical Usage, and back into OpenAI's usage shape.

Anthropic's ``input_tokens`` excludes cached tokens; the canonical ``prompt_tokens`` includes
them (input + cache read + cache write), with the two cache counts kept apart because Anthropic
prices a cache read at a tenth of the input price and a cache write above it.
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import Usage


def count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_anthropic(usage: Any, previous: Usage | None = None) -> Usage | None:
    """Read ``usage``; fields it lacks keep their ``previous`` value (message_delta is cumulative
    but may carry only ``output_tokens``)."""
    if not isinstance(usage, dict):
        return previous
    prev = previous or Usage()
    prev_input = prev.prompt_tokens - prev.cache_read_tokens - prev.cache_write_tokens
    plain = count(usage["input_tokens"]) if "input_tokens" in usage else prev_input
    read = count(usage["cache_read_input_tokens"]) if "cache_read_input_tokens" in usage else prev.cache_read_tokens
    write = (count(usage["cache_creation_input_tokens"]) if "cache_creation_input_tokens" in usage
             else prev.cache_write_tokens)
    output = count(usage["output_tokens"]) if "output_tokens" in usage else prev.completion_tokens
    return Usage(prompt_tokens=plain + read + write, completion_tokens=output, cache_read_tokens=read,
                 cache_write_tokens=write)


def openai_usage(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage object; ``cache_write_tokens`` is the detail relaygate itself reads back."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens,
                                  "cache_write_tokens": usage.cache_write_tokens},
    }
