"""Exact integer unit conversions (DESIGN §4) with explicit rounding direction.

usd8 price × sats / 1e8 = usd8 value;  usd8 value × 1e6 / stx_usd8 = micro-STX.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

SATS_PER_BTC = 100_000_000
USTX_PER_STX = 1_000_000


def ceil_div(numerator: int, denominator: int) -> int:
    """⌈numerator / denominator⌉ for a positive denominator, exact on integers."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return -((-numerator) // denominator)


def floor_div(numerator: int, denominator: int) -> int:
    """⌊numerator / denominator⌋ for a positive denominator."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return numerator // denominator


def ceil_decimal(value: Decimal) -> int:
    """⌈value⌉ of a finite Decimal, exact (no context rounding involved)."""
    if not value.is_finite():
        raise ValueError("value must be finite")
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def usd8_to_ustx_up(value_usd8: int, stx_usd8: int) -> int:
    """A USD amount (×1e8) in micro-STX at the STX price, rounded up (what the pool receives or locks)."""
    return ceil_div(value_usd8 * USTX_PER_STX, stx_usd8)


def usd8_to_ustx_down(value_usd8: int, stx_usd8: int) -> int:
    """A USD amount (×1e8) in micro-STX at the STX price, rounded down (what the pool pays out)."""
    return floor_div(value_usd8 * USTX_PER_STX, stx_usd8)
