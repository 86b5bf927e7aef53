"""Decimal price text → USD × 1e8 integers, exactly.

Exchanges publish prices as decimal strings ("67012.34000000") or JSON numbers (CoinGecko). Both are parsed
as `Decimal` (never float), scaled by 1e8 and rounded half-to-even to an integer — the only rounding, applied
once, and unbiased for prices with more than 8 decimals (e.g. STX quotes like "1.234567891").
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from services.core.prices import PriceSourceError

USD8 = 100_000_000
MAX_PRICE_USD8 = 10**20  # 1e12 USD: anything above is a garbage payload, not a price
_MAX_TEXT = 64
_CONTEXT = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])


def to_usd8(value: object) -> int:
    """A price given as decimal text, Decimal or int → positive USD × 1e8 integer (round half even)."""
    if isinstance(value, bool):
        raise PriceSourceError("price is not a number")
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_TEXT:
            raise PriceSourceError("price text is empty or too long")
        try:
            number = Decimal(text)
        except decimal.InvalidOperation:
            raise PriceSourceError(f"price {text!r} is not a decimal number") from None
    elif isinstance(value, Decimal | int):
        number = Decimal(value)
    else:
        raise PriceSourceError(f"price has unexpected type {type(value).__name__}")
    if not number.is_finite() or number <= 0:
        raise PriceSourceError("price must be a positive finite number")
    if number.adjusted() > 12:
        raise PriceSourceError("price is implausibly large")
    scaled = _CONTEXT.multiply(number, Decimal(USD8))
    usd8 = int(scaled.to_integral_value(rounding=decimal.ROUND_HALF_EVEN, context=_CONTEXT))
    if usd8 <= 0 or usd8 > MAX_PRICE_USD8:
        raise PriceSourceError("price rounds outside the representable range")
    return usd8
