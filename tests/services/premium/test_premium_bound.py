"""The premium never exceeds the collateral: the registry refuses such a policy (u110), so no quote may carry one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.premium import PremiumExceedsCollateral, PremiumInputs, PremiumParameters, calculate_premium

USD = 100_000_000
PARAMS = PremiumParameters()

# The API's valid domain (DESIGN §7): 0.0001–100 BTC, strike 50–150% of spot, 1–365 days; prices and volatility
# as the oracle may report them.
spots = st.integers(1_000 * USD, 1_000_000 * USD)
strike_ppms = st.integers(500_000, 1_500_000)
amounts = st.integers(10_000, 100 * 100_000_000)
days = st.integers(1, 365)
stx_prices = st.integers(USD // 100, 100 * USD)


def priced(spot: int, strike_ppm: int, amount: int, duration: int, stx: int, vol_ppm: int) -> PremiumInputs:
    return PremiumInputs(spot, spot * strike_ppm // 1_000_000, amount, duration, stx, vol_ppm)


@settings(max_examples=300, deadline=None)
@given(spots, strike_ppms, amounts, days, stx_prices, st.integers(10_000, 1_000_000))
def test_up_to_100_percent_volatility_every_valid_policy_costs_at_most_its_collateral(
    spot: int, strike_ppm: int, amount: int, duration: int, stx: int, vol_ppm: int
) -> None:
    quote = calculate_premium(priced(spot, strike_ppm, amount, duration, stx, vol_ppm), PARAMS)
    assert 0 < quote.premium_ustx <= quote.collateral_ustx


@settings(max_examples=300, deadline=None)
@given(spots, strike_ppms, amounts, days, stx_prices, st.integers(10_000, 5_000_000))
def test_at_any_volatility_a_quote_is_within_the_bound_or_refused(
    spot: int, strike_ppm: int, amount: int, duration: int, stx: int, vol_ppm: int
) -> None:
    try:
        quote = calculate_premium(priced(spot, strike_ppm, amount, duration, stx, vol_ppm), PARAMS)
    except PremiumExceedsCollateral as exc:
        assert exc.premium_ustx > exc.collateral_ustx
        assert exc.field == "duration_days"
        return
    assert quote.premium_ustx <= quote.collateral_ustx


def test_a_long_in_the_money_policy_in_a_wild_market_is_refused_not_quoted() -> None:
    spot = 60_000 * USD
    with pytest.raises(PremiumExceedsCollateral) as refused:
        calculate_premium(priced(spot, 825_000, 10_000_000, 365, 80_000_000, 1_500_000), PARAMS)
    assert refused.value.premium_ustx > refused.value.collateral_ustx
    # the same policy for 30 days is fine
    quote = calculate_premium(priced(spot, 825_000, 10_000_000, 30, 80_000_000, 1_500_000), PARAMS)
    assert quote.premium_ustx <= quote.collateral_ustx
