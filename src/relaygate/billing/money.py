"""Money as integer micro-units (1e-6 of the currency); decimal strings at the API edge."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICRO = 1_000_000
MAX_AMOUNT = Decimal(10**12)  # fits a 64-bit column in micro-units with room to spare


class MoneyError(ValueError):
    pass


def parse_money(value: object, *, allow_negative: bool = False) -> int:
    """Parse "10.00" (or an int/float given by a lax client) into micro-units, exactly."""
    if isinstance(value, bool) or value is None:
        raise MoneyError("expected a decimal string such as \"10.00\"")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise MoneyError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    if amount < 0 and not allow_negative:
        raise MoneyError("amount must not be negative")
    if abs(amount) > MAX_AMOUNT:
        raise MoneyError(f"amount too large (at most {MAX_AMOUNT})")
    return int((amount * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_money(micro: int | None) -> str | None:
    if micro is None:
        return None
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    text = f"{whole}.{frac:06d}".rstrip("0")
    if text.endswith("."):
        text += "00"
    elif len(text.split(".")[1]) == 1:
        text += "0"
    return sign + text
