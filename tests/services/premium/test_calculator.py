"""Premium, collateral, tier matching and rounding of the premium service."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from scipy.stats import norm

from services.core.models import RiskTier
from services.premium import (
    PremiumExceedsCollateral,
    PremiumInputError,
    PremiumInputs,
    PremiumParameters,
    TierMismatch,
    calculate_premium,
    loaded_premium_usd8,
    match_tier,
    required_collateral_ustx,
)

USD = 100_000_000  # 1 USD in usd8
BTC = 100_000_000  # 1 BTC in sats
PARAMS = PremiumParameters()


def inputs(
    spot: int = 100_000 * USD,
    strike: int = 90_000 * USD,
    amount: int = BTC,
    days: int = 30,
    stx: int = 2 * USD,
    vol_ppm: int = 600_000,
    tier: RiskTier | str | None = None,
) -> PremiumInputs:
    return PremiumInputs(
        spot_usd8=spot,
        strike_usd8=strike,
        amount_sats=amount,
        duration_days=days,
        stx_usd8=stx,
        volatility_ppm=vol_ppm,
        tier=tier,
    )


# Hand-checked table. Premium: float Black-Scholes (scipy) × 1.01 × 1.5 × (1 + 0.5·T) × multiplier, e.g. row 1:
# put 2647.574158 USD/BTC × 1.01 × 1.5 × (1 + 0.5 × 30/365) × 1.0 = 4175.91354128 USD → 417591354129 usd8 (up);
# → 417591354129 × 1e6 / 2e8 = 2087956770.645 → 2087956771 µSTX (up). Collateral row 2: 100000 USD × 0.5 BTC
# × 110% / 1.25 USD = 44000 STX exactly (floats give 44000.000001). Break-even row 1: 90000 − 4175.91354129.
TABLE = [
    # spot, strike, sats, days, vol, stx, tier, premium_usd8, premium_ustx, collateral_ustx, break_even_usd8
    (100_000, 90_000, BTC, 30, 600_000, 2 * USD, RiskTier.Balanced, 417591354129, 2087956771, 45_000_000_000,
     8582408645871),
    (100_000, 100_000, BTC // 2, 7, 300_000, 125_000_000, RiskTier.Conservative, 100207557687, 801660462,
     44_000_000_000, 9799584884626),
    (60_000, 45_000, BTC // 100, 90, 800_000, 85_000_000, RiskTier.Aggressive, 5580841024, 65656954,
     476470589, 3941915897600),
    (100_000, 150_000, 2 * BTC, 365, 450_000, 3 * USD, RiskTier.Conservative, 19223504472732, 64078348243,
     110_000_000_000, 5388247763634),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spot", "strike", "sats", "days", "vol", "stx", "tier", "premium", "premium_ustx", "collateral", "break_even"),
    TABLE,
)
def test_hand_checked_table(
    spot: int,
    strike: int,
    sats: int,
    days: int,
    vol: int,
    stx: int,
    tier: RiskTier,
    premium: int,
    premium_ustx: int,
    collateral: int,
    break_even: int,
) -> None:
    quote = calculate_premium(inputs(spot * USD, strike * USD, sats, days, stx, vol), PARAMS)
    assert quote.tier is tier
    assert quote.premium_usd8 == premium
    assert quote.premium_ustx == premium_ustx
    assert quote.collateral_ustx == collateral
    assert quote.break_even_usd8 == break_even
    assert abs(quote.years * 365 - days) < Decimal("1e-55")  # T = days/365 at 60 digits


def float_premium_usd8(q: PremiumInputs, multiplier: float) -> float:
    spot, strike, years, vol = q.spot_usd8 / USD, q.strike_usd8 / USD, q.duration_days / 365, q.volatility_ppm / 1e6
    d1 = (math.log(spot / strike) + (0.02 + vol * vol / 2) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    put = strike * math.exp(-0.02 * years) * norm.cdf(-d2) - spot * norm.cdf(-d1)
    return float(put * q.amount_sats / BTC * 1.01 * 1.5 * (1 + 0.5 * years) * multiplier * USD)


@settings(max_examples=60, deadline=None)
@given(
    spot_usd=st.integers(1_000, 500_000),
    ratio_ppm=st.integers(700_000, 1_300_000),
    days=st.integers(1, 365),
    vol_ppm=st.integers(150_000, 2_000_000),
    amount=st.integers(10_000, 100 * BTC),
)
def test_premium_agrees_with_scipy(spot_usd: int, ratio_ppm: int, days: int, vol_ppm: int, amount: int) -> None:
    q = inputs(spot_usd * USD, spot_usd * ratio_ppm * 100, amount, days, 2 * USD, vol_ppm)
    tier = match_tier(q.spot_usd8, q.strike_usd8, PARAMS)
    reference = float_premium_usd8(q, float(PARAMS.terms(tier).premium_multiplier))
    assert formula_premium_usd8(q) == pytest.approx(reference, rel=1e-9, abs=2)


positive_spot = st.integers(1_000 * USD, 500_000 * USD)


def formula_premium_usd8(q: PremiumInputs) -> int:
    """The rounded premium of the formula, also where calculate_premium refuses it (above the collateral at
    extreme volatility: tests/services/premium/test_premium_bound.py)."""
    tier = match_tier(q.spot_usd8, q.strike_usd8, PARAMS)
    loaded, _, _ = loaded_premium_usd8(
        q.spot_usd8, q.strike_usd8, q.amount_sats, q.duration_days, q.volatility_ppm, tier, PARAMS
    )
    return max(1, math.ceil(loaded))


@settings(max_examples=60, deadline=None)
@given(
    spot=positive_spot,
    low=st.integers(500_000, 1_500_000),
    high=st.integers(500_000, 1_500_000),
    days=st.integers(1, 365),
    vol_ppm=st.integers(10_000, 2_000_000),
    tier=st.sampled_from(list(RiskTier)),
)
def test_monotonic_in_strike_for_a_fixed_tier(
    spot: int, low: int, high: int, days: int, vol_ppm: int, tier: RiskTier
) -> None:
    low, high = sorted((low, high))
    a, _, _ = loaded_premium_usd8(spot, spot * low // 1_000_000, BTC, days, vol_ppm, tier, PARAMS)
    b, _, _ = loaded_premium_usd8(spot, spot * high // 1_000_000, BTC, days, vol_ppm, tier, PARAMS)
    assert a <= b


@settings(max_examples=60, deadline=None)
@given(
    spot=positive_spot,
    ratio=st.integers(500_000, 1_500_000),
    days=st.integers(1, 365),
    low=st.integers(1, 3_000_000),
    high=st.integers(1, 3_000_000),
)
def test_monotonic_in_volatility(spot: int, ratio: int, days: int, low: int, high: int) -> None:
    low, high = sorted((low, high))
    strike = spot * ratio // 1_000_000
    # the formula's premium: at the top of this range calculate_premium may refuse it (above the collateral)
    assert formula_premium_usd8(inputs(spot, strike, BTC, days, 2 * USD, low)) <= formula_premium_usd8(
        inputs(spot, strike, BTC, days, 2 * USD, high)
    )


@settings(max_examples=60, deadline=None)
@given(
    spot=positive_spot,
    ratio=st.integers(500_000, 1_500_000),
    short=st.integers(1, 365),
    long=st.integers(1, 365),
    vol_ppm=st.integers(300_000, 2_000_000),
)
def test_monotonic_in_duration_at_market_volatility(spot: int, ratio: int, short: int, long: int, vol_ppm: int) -> None:
    short, long = sorted((short, long))
    strike = spot * ratio // 1_000_000
    assert formula_premium_usd8(inputs(spot, strike, BTC, short, 2 * USD, vol_ppm)) <= formula_premium_usd8(
        inputs(spot, strike, BTC, long, 2 * USD, vol_ppm)
    )


def test_duration_is_not_monotonic_for_in_the_money_puts_at_low_volatility() -> None:
    # A property of the European put under r > 0, kept visible here: 3% in the money at 15% volatility the
    # strike's discounting outweighs time value and the (1 + 0.5·T) load, so 2 days cost less than 1 day.
    one_day = calculate_premium(inputs(100_000 * USD, 103_000 * USD, BTC, 1, 2 * USD, 150_000), PARAMS)
    two_days = calculate_premium(inputs(100_000 * USD, 103_000 * USD, BTC, 2, 2 * USD, 150_000), PARAMS)
    assert two_days.premium_usd8 < one_day.premium_usd8


def test_premium_drops_where_the_tier_changes() -> None:
    # The design's multipliers (Aggressive 1.2 > Balanced 1.0 > Conservative 0.8) make the matched premium fall
    # when the strike crosses 85% or 95% of spot upwards: more cover for less premium at the boundary.
    spot = 100_000 * USD
    below = calculate_premium(inputs(spot, 85_000 * USD - 1), PARAMS)
    at = calculate_premium(inputs(spot, 85_000 * USD), PARAMS)
    assert (below.tier, at.tier) == (RiskTier.Aggressive, RiskTier.Balanced)
    assert at.premium_usd8 < below.premium_usd8


# --- rounding -------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    spot=positive_spot,
    ratio=st.integers(500_000, 1_500_000),
    days=st.integers(1, 365),
    vol_ppm=st.integers(1, 3_000_000),
    amount=st.integers(1, 100 * BTC),
    stx=st.integers(1, 100 * USD),
)
def test_premium_rounds_up_in_usd_and_stx(
    spot: int, ratio: int, days: int, vol_ppm: int, amount: int, stx: int
) -> None:
    strike = max(1, spot * ratio // 1_000_000)
    try:
        quote = calculate_premium(inputs(spot, strike, amount, days, stx, vol_ppm), PARAMS)
    except PremiumExceedsCollateral:  # refused above the collateral (test_premium_bound.py): nothing rounded
        reject()
    exact, _, _ = loaded_premium_usd8(spot, strike, amount, days, vol_ppm, quote.tier, PARAMS)
    assert exact <= quote.premium_usd8 < exact + 1 or (quote.premium_usd8 == 1 and exact < 1)
    # premium_ustx = ⌈premium_usd8 × 1e6 / stx⌉ exactly.
    assert quote.premium_ustx * stx >= quote.premium_usd8 * 1_000_000 > (quote.premium_ustx - 1) * stx
    assert quote.premium_usd8 >= 1 and quote.premium_ustx >= 1


def test_tiny_premium_is_at_least_one_unit() -> None:
    # Strike at 50% of spot, one day, 1% volatility: the fair value is ~1e-380000 USD, positive, so it rounds to 1.
    quote = calculate_premium(inputs(100_000 * USD, 50_000 * USD, 10_000, 1, 2 * USD, 10_000), PARAMS)
    assert quote.fair_value_usd8 > 0
    assert (quote.premium_usd8, quote.premium_ustx) == (1, 1)


@pytest.mark.parametrize(
    ("strike", "amount", "stx", "tier", "expected"),
    [
        # 1 USD × 1 BTC × 100% at 2 USD/STX = 0.5 STX exactly.
        (USD, BTC, 2 * USD, RiskTier.Balanced, 500_000),
        # at 3 USD/STX: 333333.33… µSTX → up.
        (USD, BTC, 3 * USD, RiskTier.Balanced, 333_334),
        # 1 usd8 × 1 sat × 90% → 9e-17 USD: still 1 µSTX.
        (1, 1, USD, RiskTier.Aggressive, 1),
        # 110% of 100 USD at 1.1 USD/STX = 100 STX exactly.
        (100 * USD, BTC, 110_000_000, RiskTier.Conservative, 100_000_000),
        # …and one satoshi more tips it over by a fraction → up.
        (100 * USD, BTC + 1, 110_000_000, RiskTier.Conservative, 100_000_001),
    ],
)
def test_collateral_rounds_up_exactly(strike: int, amount: int, stx: int, tier: RiskTier, expected: int) -> None:
    assert required_collateral_ustx(strike, amount, stx, tier, PARAMS) == expected


def test_break_even_rounds_down() -> None:
    # Premium per BTC = premium_usd8 × 1e8 / sats, rounded up, so the break-even price rounds down.
    quote = calculate_premium(inputs(amount=3), PARAMS)
    per_btc_up = -(-quote.premium_usd8 * BTC // 3)
    assert quote.break_even_usd8 == 90_000 * USD - per_btc_up


# --- tiers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strike", "tier"),
    [
        (95_000 * USD, RiskTier.Conservative),  # exactly 95%
        (95_000 * USD - 1, RiskTier.Balanced),  # one usd8 below
        (150_000 * USD, RiskTier.Conservative),
        (85_000 * USD, RiskTier.Balanced),  # exactly 85%
        (85_000 * USD - 1, RiskTier.Aggressive),
        (50_000 * USD, RiskTier.Aggressive),
    ],
)
def test_tier_matching_edges(strike: int, tier: RiskTier) -> None:
    assert match_tier(100_000 * USD, strike, PARAMS) is tier


def test_tier_matching_is_exact_with_awkward_spot() -> None:
    spot = 3  # 95% of 3 usd8 is 2.85: 3 is Conservative, 2 (66%) is Aggressive
    assert match_tier(spot, 3, PARAMS) is RiskTier.Conservative
    assert match_tier(spot, 2, PARAMS) is RiskTier.Aggressive


def test_requested_tier_must_match() -> None:
    quote = calculate_premium(inputs(strike=90_000 * USD, tier=RiskTier.Balanced), PARAMS)
    assert quote.tier is RiskTier.Balanced
    with pytest.raises(TierMismatch) as caught:
        calculate_premium(inputs(strike=90_000 * USD, tier=RiskTier.Conservative), PARAMS)
    assert (caught.value.requested, caught.value.matched) == (RiskTier.Conservative, RiskTier.Balanced)
    assert caught.value.field == "tier"
    assert calculate_premium(inputs(strike=90_000 * USD, tier="Balanced"), PARAMS).tier is RiskTier.Balanced
    with pytest.raises(PremiumInputError) as unknown:
        calculate_premium(inputs(strike=90_000 * USD, tier="Reckless"), PARAMS)
    assert unknown.value.field == "tier"


def test_tier_terms_apply() -> None:
    spot = 100_000 * USD
    conservative = calculate_premium(inputs(spot, 95_000 * USD), PARAMS)
    balanced = calculate_premium(inputs(spot, 95_000 * USD - 1), PARAMS)
    ratio = Decimal(conservative.premium_usd8) / Decimal(balanced.premium_usd8)
    assert abs(ratio - Decimal("0.8")) < Decimal("1e-6")
    # Collateral: 95000 USD × 110% / 2 = 52250 STX; Balanced: (95000 USD − 1e-8) × 100% / 2, rounded up.
    assert conservative.collateral_ustx == 52_250_000_000
    assert balanced.collateral_ustx == 47_500_000_000


def test_custom_parameters() -> None:
    params = PremiumParameters(risk_free_rate=Decimal(0), protocol_fee=Decimal(0), risk_load=Decimal(1),
                               duration_factor=Decimal(0))  # fmt: skip
    quote = calculate_premium(inputs(tier=None), params)
    # With all loads off the premium is the plain Black-Scholes value, rounded up.
    assert quote.premium_usd8 == math.ceil(quote.fair_value_usd8)


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("spot_usd8", {"spot": 0}),
        ("strike_usd8", {"strike": -5}),
        ("amount_sats", {"amount": 0}),
        ("duration_days", {"days": 0}),
        ("stx_usd8", {"stx": 0}),
        ("volatility_ppm", {"vol_ppm": 0}),
    ],
)
def test_bad_input_is_a_typed_error(field: str, overrides: dict[str, int]) -> None:
    with pytest.raises(PremiumInputError) as caught:
        calculate_premium(inputs(**overrides), PARAMS)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_non_integer_input_is_rejected() -> None:
    with pytest.raises(PremiumInputError):
        calculate_premium(inputs(amount=1.5), PARAMS)  # type: ignore[arg-type]
    with pytest.raises(PremiumInputError):
        calculate_premium(inputs(days=True), PARAMS)


def test_parameters_validate() -> None:
    with pytest.raises(ValueError):
        PremiumParameters(risk_load=Decimal(0))
    with pytest.raises(ValueError):
        PremiumParameters(balanced_min_ppm=960_000)
    with pytest.raises(ValueError):
        PremiumParameters(risk_free_rate=0.02)  # type: ignore[arg-type]
