"""Money and prices: exact integers, rounding once, cache tokens priced on their own."""

from __future__ import annotations

import pytest

from relaygate.billing.money import MoneyError, format_money, parse_money
from relaygate.billing.pricing import cost_of, worst_case_cost
from relaygate.providers.base import Usage
from relaygate.state.snapshot import PriceInfo


def price(inp: str, out: str, cache_read: str | None = None, cache_write: str | None = None,
          per_request: str = "0") -> PriceInfo:
    return PriceInfo(model="m", input=parse_money(inp), output=parse_money(out),
                     cache_read=parse_money(cache_read) if cache_read else None,
                     cache_write=parse_money(cache_write) if cache_write else None,
                     per_request=parse_money(per_request), max_output_tokens=None)


@pytest.mark.parametrize(("text", "micro"), [("10", 10_000_000), ("10.5", 10_500_000), ("0.000001", 1),
                                             ("0.15", 150_000), ("1.2345675", 1_234_568), (7, 7_000_000)])
def test_parse_money(text: str, micro: int) -> None:
    assert parse_money(text) == micro


@pytest.mark.parametrize("bad", ["abc", "-1", "NaN", "Infinity", None, True, "1e30"])
def test_parse_money_rejects(bad: object) -> None:
    with pytest.raises(MoneyError):
        parse_money(bad)


@pytest.mark.parametrize(("micro", "text"), [(10_000_000, "10.00"), (1, "0.000001"), (150_000, "0.15"),
                                             (0, "0.00"), (-2_500_000, "-2.50"), (1_234_567, "1.234567")])
def test_format_money(micro: int, text: str) -> None:
    assert format_money(micro) == text


def test_cost_is_exact_and_rounded_up_once() -> None:
    # 0.15 per 1M in, 0.60 per 1M out: 1000 in + 500 out = 150 + 300 micro-units exactly
    assert cost_of(price("0.15", "0.60"), Usage(1000, 500)) == 450
    # 7 tokens at 0.15 per 1M = 1.05 micro-units -> 2 (one rounding, on the total)
    assert cost_of(price("0.15", "0.60"), Usage(7, 0)) == 2
    assert cost_of(price("0.15", "0.60", per_request="0.01"), Usage(0, 0)) == 10_000


def test_cached_prompt_tokens_use_cache_prices_when_set() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=0, cache_read_tokens=600, cache_write_tokens=100)
    # 300 plain at 3.00, 600 read at 0.30, 100 written at 3.75 (per 1M)
    assert cost_of(price("3.00", "15.00", "0.30", "3.75"), usage) == -(-(300 * 3_000_000 + 600 * 300_000
                                                                        + 100 * 3_750_000) // 1_000_000)
    # without cache prices every prompt token costs the input price
    assert cost_of(price("3.00", "15.00"), usage) == 3000


def test_worst_case_covers_the_actual_cost() -> None:
    p = price("3.00", "15.00", "0.30", "3.75", per_request="0.001")
    for prompt, out in [(10, 10), (1000, 4096), (1, 1)]:
        assert worst_case_cost(p, prompt, out) >= cost_of(p, Usage(prompt, out, 0, prompt))


def test_no_price_is_free() -> None:
    assert cost_of(None, Usage(10, 10)) == 0 and worst_case_cost(None, 10, 10) == 0
