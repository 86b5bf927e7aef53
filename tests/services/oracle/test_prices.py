"""Decimal price text → usd8, exactly, half-even."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.oracle import PriceSourceError, to_usd8


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("67012.34", 6_701_234_000_000),
        ("67012.34000000", 6_701_234_000_000),
        (" 0.2851 ", 28_510_000),
        ("1.234567885", 123_456_788),  # …88.5 → even 88
        ("1.234567895", 123_456_790),  # …89.5 → even 90
        ("1.2345678851", 123_456_789),  # above the half → up
        ("0.000000015", 2),  # 1.5 → 2
        ("0.000000025", 2),  # 2.5 → 2
        ("1E+5", 10_000_000_000_000),
        (Decimal("91238.12"), 9_123_812_000_000),
        (91238, 9_123_800_000_000),
        ("123456789012.5", 12_345_678_901_250_000_000),
    ],
)
def test_exact_conversion(value: object, expected: int) -> None:
    assert to_usd8(value) == expected


@pytest.mark.parametrize(
    "value",
    ["", "abc", "NaN", "Infinity", "-1", "0", "0.000000004", "1e30", "1" * 80, True, 1.5, None, [], {"usd": 1}],
)
def test_garbage_is_refused(value: object) -> None:
    with pytest.raises(PriceSourceError):
        to_usd8(value)
