"""Cost of a request from its token counts and the model's price. Integer micro-units only.

Translation is priced per character: ``PriceInfo.per_character`` is micro-units per 1M
characters (the same scale as the token prices, so "20.00" reads as 20 per million characters,
DeepL's own unit). A usage that carries ``characters`` (translation channels) is billed by them
when the price has a per-character rate, and otherwise as that many prompt tokens at the input
price (translation usage reports prompt_tokens = characters).
"""

from __future__ import annotations

from typing import Any

from relaygate.providers.base import Usage
from relaygate.state.snapshot import PriceInfo

PER_MILLION = 1_000_000


def cost_of(price: PriceInfo | None, usage: Usage) -> int:
    """Exact cost, rounded up to the micro-unit once, on the total.

    Cached prompt tokens are billed at the cache prices where the operator set them, at the
    input price otherwise.
    """
    if price is None:
        return 0
    if usage.characters and price.per_character is not None:
        return -(-usage.characters * price.per_character // PER_MILLION) + price.per_request
    cache_read = min(usage.cache_read_tokens, usage.prompt_tokens)
    cache_write = min(usage.cache_write_tokens, usage.prompt_tokens - cache_read)
    plain = usage.prompt_tokens - cache_read - cache_write
    total = (plain * price.input
             + cache_read * (price.input if price.cache_read is None else price.cache_read)
             + cache_write * (price.input if price.cache_write is None else price.cache_write)
             + usage.completion_tokens * price.output)
    return -(-total // PER_MILLION) + price.per_request


def worst_case_cost(price: PriceInfo | None, prompt_tokens: int, output_tokens: int, characters: int = 0) -> int:
    """The reservation. With a per-character price the request may be billed either way (a
    translation channel counts characters, a chat channel serving the same model name tokens), so
    the larger of the two is reserved."""
    if price is None:
        return 0
    cache_write = price.cache_write if price.cache_write is not None else 0
    input_rate = max(price.input, cache_write)
    total = prompt_tokens * input_rate + output_tokens * price.output
    if characters and price.per_character is not None:
        total = max(total, characters * price.per_character)
    return -(-total // PER_MILLION) + price.per_request


def prompt_characters(body: dict[str, Any]) -> int:
    """Characters of every text in a chat body's messages: an upper bound of what a translation
    channel bills (it translates the last user message only)."""
    total = 0
    for msg in body.get("messages") or ():
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return total
