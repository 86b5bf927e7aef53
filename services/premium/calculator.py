"""Premium, collateral and tier of a BTC protection policy (a PUT) — pure and deterministic.

Rounding (DESIGN §4): what the buyer pays and what the pool locks round up, in favour of the pool.
- premium_usd8 = ⌈exact loaded premium⌉, and at least 1: for any positive volatility and duration the exact
  Black-Scholes value is strictly positive, so the ceiling is ≥ 1 even when the value is far below 1e-8 USD.
  The Decimal math carries 60 significant digits; the exact value is transcendental, so the computed value
  lies within ~1e-50 (relative) of it and its ceiling is the ceiling of the exact value except when the exact
  value sits within that distance above an integer — where the error could only ever favour the pool by 1.
- premium_ustx = ⌈premium_usd8 × 1e6 / stx_usd8⌉ from the rounded USD premium, so anyone can re-derive the
  STX amount from the two stored integers.
- collateral_ustx = ⌈strike × amount × ratio_ppm / (1e8 × stx_usd8)⌉ in one exact integer division.
- premium_ustx ≤ collateral_ustx, or `PremiumExceedsCollateral`: the registry refuses a premium above the
  collateral (u110), so no quote may carry one. With the default parameters this only happens above ~100%
  annualized volatility (see tests/services/premium/test_premium_bound.py).

Tier rule: the tier is a function of strike/spot (≥ 95% Conservative, ≥ 85% Balanced, else Aggressive;
thresholds inclusive, compared exactly in integers). A tier named by the buyer is honoured only when it is
the matched tier, otherwise `TierMismatch`. A "more conservative" tier is not offered as an alternative
because it carries a lower premium multiplier (0.8 < 1.0 < 1.2): it would be a discount on the same risk and
lock more of the pool's capital; a "more aggressive" one would charge the buyer more for less cover.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal

from services.core.models import RiskTier
from services.premium.black_scholes import black_scholes_put
from services.premium.errors import PremiumExceedsCollateral, PremiumInputError, TierMismatch
from services.premium.normal import working_context
from services.premium.parameters import PPM, PremiumParameters
from services.premium.units import SATS_PER_BTC, ceil_decimal, ceil_div, usd8_to_ustx_up


@dataclass(frozen=True, slots=True)
class PremiumInputs:
    """Everything a premium depends on, in base units (DESIGN §4)."""

    spot_usd8: int
    strike_usd8: int  # protected_value_usd8
    amount_sats: int
    duration_days: int
    stx_usd8: int
    volatility_ppm: int  # annualized volatility, 0.30 = 300_000
    tier: RiskTier | str | None = None  # None: use the matched tier


@dataclass(frozen=True, slots=True)
class PremiumQuote:
    premium_usd8: int
    premium_ustx: int
    collateral_ustx: int
    tier: RiskTier
    break_even_usd8: int  # strike − premium per BTC (premium per BTC rounded up, so this rounds down)
    years: Decimal  # T = duration_days / days_per_year
    fair_value_usd8: Decimal  # the plain Black-Scholes put for the whole amount, before fee, loads and tier
    inputs: PremiumInputs


def _require_positive_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PremiumInputError(field, "must be an integer")
    if value <= 0:
        raise PremiumInputError(field, "must be positive")
    return value


def match_tier(spot_usd8: int, strike_usd8: int, parameters: PremiumParameters) -> RiskTier:
    """Tier from strike/spot, thresholds inclusive: exactly 95% is Conservative, exactly 85% Balanced."""
    spot = _require_positive_int("spot_usd8", spot_usd8)
    strike = _require_positive_int("strike_usd8", strike_usd8)
    if strike * PPM >= spot * parameters.conservative_min_ppm:
        return RiskTier.Conservative
    if strike * PPM >= spot * parameters.balanced_min_ppm:
        return RiskTier.Balanced
    return RiskTier.Aggressive


def resolve_tier(
    spot_usd8: int, strike_usd8: int, requested: RiskTier | str | None, parameters: PremiumParameters
) -> RiskTier:
    """The matched tier; a requested tier (enum or its name) must equal it (see the module docstring)."""
    matched = match_tier(spot_usd8, strike_usd8, parameters)
    if requested is None:
        return matched
    try:
        tier = RiskTier(requested)
    except ValueError:
        raise PremiumInputError("tier", f"unknown tier {requested!r}") from None
    if tier is not matched:
        raise TierMismatch(tier, matched)
    return matched


def required_collateral_ustx(
    strike_usd8: int, amount_sats: int, stx_usd8: int, tier: RiskTier, parameters: PremiumParameters
) -> int:
    """⌈strike × amount × tier ratio⌉ in micro-STX at the STX price."""
    strike = _require_positive_int("strike_usd8", strike_usd8)
    amount = _require_positive_int("amount_sats", amount_sats)
    stx = _require_positive_int("stx_usd8", stx_usd8)
    ratio_ppm = parameters.terms(tier).collateral_ratio_ppm
    return ceil_div(strike * amount * ratio_ppm, SATS_PER_BTC * stx)


def loaded_premium_usd8(
    spot_usd8: int,
    strike_usd8: int,
    amount_sats: int,
    duration_days: int,
    volatility_ppm: int,
    tier: RiskTier,
    parameters: PremiumParameters,
) -> tuple[Decimal, Decimal, Decimal]:
    """(exact loaded premium in usd8, plain Black-Scholes value in usd8, T) for the whole amount, unrounded."""
    spot = _require_positive_int("spot_usd8", spot_usd8)
    strike = _require_positive_int("strike_usd8", strike_usd8)
    amount = _require_positive_int("amount_sats", amount_sats)
    days = _require_positive_int("duration_days", duration_days)
    vol_ppm = _require_positive_int("volatility_ppm", volatility_ppm)
    with decimal.localcontext(working_context()):
        years = Decimal(days) / Decimal(parameters.days_per_year)
        volatility = Decimal(vol_ppm) / PPM
        put_per_btc = black_scholes_put(Decimal(spot), Decimal(strike), years, volatility, parameters.risk_free_rate)
        fair_value = put_per_btc * amount / SATS_PER_BTC
        loaded = (
            fair_value
            * (1 + parameters.protocol_fee)
            * parameters.risk_load
            * (1 + parameters.duration_factor * years)
            * parameters.terms(tier).premium_multiplier
        )
        return loaded, fair_value, years


def calculate_premium(inputs: PremiumInputs, parameters: PremiumParameters) -> PremiumQuote:
    """Price a PUT: tier, premium (USD and STX), required collateral and break-even. Raises PremiumInputError."""
    stx = _require_positive_int("stx_usd8", inputs.stx_usd8)
    tier = resolve_tier(inputs.spot_usd8, inputs.strike_usd8, inputs.tier, parameters)
    loaded, fair_value, years = loaded_premium_usd8(
        inputs.spot_usd8,
        inputs.strike_usd8,
        inputs.amount_sats,
        inputs.duration_days,
        inputs.volatility_ppm,
        tier,
        parameters,
    )
    premium_usd8 = max(1, ceil_decimal(loaded))
    premium_per_btc_usd8 = ceil_div(premium_usd8 * SATS_PER_BTC, inputs.amount_sats)
    premium_ustx = usd8_to_ustx_up(premium_usd8, stx)
    collateral_ustx = required_collateral_ustx(inputs.strike_usd8, inputs.amount_sats, stx, tier, parameters)
    if premium_ustx > collateral_ustx:
        # The registry's bound (u110): never quote what the chain would refuse.
        raise PremiumExceedsCollateral(premium_ustx, collateral_ustx)
    return PremiumQuote(
        premium_usd8=premium_usd8,
        premium_ustx=premium_ustx,
        collateral_ustx=collateral_ustx,
        tier=tier,
        break_even_usd8=max(0, inputs.strike_usd8 - premium_per_btc_usd8),
        years=years,
        fair_value_usd8=fair_value,
        inputs=inputs,
    )
