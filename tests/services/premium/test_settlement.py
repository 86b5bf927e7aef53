"""Settlement amounts: (strike − price) × amount in µSTX, rounded down, capped at the collateral."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.premium import PremiumInputError, settlement_ustx

USD = 100_000_000
BTC = 100_000_000


def test_exact_settlement() -> None:
    # (90000 − 80000) USD × 1 BTC = 10000 USD at 2 USD/STX = 5000 STX.
    assert settlement_ustx(90_000 * USD, 80_000 * USD, BTC, 2 * USD, 10**12) == 5_000_000_000


def test_rounds_down() -> None:
    # 1 USD × 1 BTC at 3 USD/STX = 333333.33… µSTX → 333333.
    assert settlement_ustx(2 * USD, 1 * USD, BTC, 3 * USD, 10**12) == 333_333
    # A shortfall worth less than 1 µSTX pays nothing.
    assert settlement_ustx(2, 1, 1, USD, 10**12) == 0


def test_capped_at_collateral() -> None:
    owed = settlement_ustx(90_000 * USD, 10_000 * USD, BTC, 2 * USD, 10**15)
    assert owed == 40_000_000_000
    assert settlement_ustx(90_000 * USD, 10_000 * USD, BTC, 2 * USD, owed - 1) == owed - 1
    assert settlement_ustx(90_000 * USD, 10_000 * USD, BTC, 2 * USD, owed) == owed


@pytest.mark.parametrize("price", [90_000 * USD, 90_000 * USD + 1, 200_000 * USD])
def test_nothing_when_price_at_or_above_strike(price: int) -> None:
    assert settlement_ustx(90_000 * USD, price, BTC, 2 * USD, 10**12) == 0


def test_price_zero_pays_the_full_shortfall_up_to_collateral() -> None:
    assert settlement_ustx(90_000 * USD, 0, BTC, 2 * USD, 10**15) == 45_000_000_000


@given(
    strike=st.integers(1, 10**14),
    price=st.integers(0, 10**14),
    amount=st.integers(1, 10**10),
    stx=st.integers(1, 10**10),
    collateral=st.integers(0, 10**16),
)
def test_never_more_than_owed_or_collateral(strike: int, price: int, amount: int, stx: int, collateral: int) -> None:
    paid = settlement_ustx(strike, price, amount, stx, collateral)
    assert 0 <= paid <= collateral
    shortfall_scaled = max(0, strike - price) * amount * 1_000_000  # in usd8 × 1e8 × µSTX units
    assert paid * BTC * stx <= shortfall_scaled
    if paid < collateral:
        assert (paid + 1) * BTC * stx > shortfall_scaled


@pytest.mark.parametrize(
    "args",
    [(0, 1, 1, 1, 1), (1, -1, 1, 1, 1), (1, 1, 0, 1, 1), (1, 1, 1, 0, 1), (1, 1, 1, 1, -1), (1, 1.5, 1, 1, 1)],
)
def test_bad_input(args: tuple[int, int, int, int, int]) -> None:
    with pytest.raises(PremiumInputError):
        settlement_ustx(*args)
