"""Cost of a request from its token counts and the model's price. Integer micro-units only."""

from __future__ import annotations

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
    cache_read = min(usage.cache_read_tokens, usage.prompt_tokens)
    cache_write = min(usage.cache_write_tokens, usage.prompt_tokens - cache_read)
    plain = usage.prompt_tokens - cache_read - cache_write
    total = (plain * price.input
             + cache_read * (price.input if price.cache_read is None else price.cache_read)
             + cache_write * (price.input if price.cache_write is None else price.cache_write)
             + usage.completion_tokens * price.output)
    return -(-total // PER_MILLION) + price.per_request


def worst_case_cost(price: PriceInfo | None, prompt_tokens: int, output_tokens: int) -> int:
    if price is None:
        return 0
    cache_write = price.cache_write if price.cache_write is not None else 0
    input_rate = max(price.input, cache_write)
    total = prompt_tokens * input_rate + output_tokens * price.output
    return -(-total // PER_MILLION) + price.per_request
