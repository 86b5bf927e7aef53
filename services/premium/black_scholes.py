"""Black-Scholes European put in `decimal` (homogeneous in spot and strike, so any price unit works)."""

from __future__ import annotations

import decimal
from decimal import Decimal

from services.premium.normal import normal_cdf, working_context


def black_scholes_put(spot: Decimal, strike: Decimal, years: Decimal, volatility: Decimal, rate: Decimal) -> Decimal:
    """P = K·e^{-rT}·N(−d2) − S·N(−d1), with d1 = (ln(S/K) + (r + σ²/2)T) / (σ√T), d2 = d1 − σ√T.

    All of spot, strike, years and volatility must be positive. Computed at 60 significant digits; deep
    out-of-the-money values are tiny but strictly positive (the tails are evaluated without underflow), and a
    result that cancellation could push below zero is clamped to zero.
    """
    if spot <= 0 or strike <= 0 or years <= 0 or volatility <= 0:
        raise ValueError("spot, strike, years and volatility must be positive")
    with decimal.localcontext(working_context()):
        sigma_sqrt_t = volatility * years.sqrt()
        d1 = ((spot / strike).ln() + (rate + volatility * volatility / 2) * years) / sigma_sqrt_t
        d2 = d1 - sigma_sqrt_t
        discounted_strike = strike * (-rate * years).exp()
        put = discounted_strike * normal_cdf(-d2) - spot * normal_cdf(-d1)
        return max(put, Decimal(0))
