"""Annualized volatility from daily closes (pure). DESIGN §7 "Oracle".

σ = sample standard deviation (n − 1) of the last `volatility_days` daily log returns ln(cᵢ / cᵢ₋₁), times
√days_per_year; computed in Decimal at 50 digits and rounded half-to-even to parts per million. Fewer than
`min_volatility_returns` returns (default 7, i.e. 8 closes) → the fallback 0.30. The result is floored at
`min_volatility_ppm` so that a flat history cannot produce σ = 0.
"""

from __future__ import annotations

import decimal
import itertools
from collections.abc import Sequence
from decimal import Decimal

from services.oracle.parameters import OracleParameters

PPM = 1_000_000


def annualized_volatility_ppm(closes: Sequence[int], parameters: OracleParameters) -> tuple[int, bool]:
    """(volatility in ppm, True if computed from history / False if the fallback was used). Closes oldest first."""
    if any(isinstance(c, bool) or not isinstance(c, int) or c <= 0 for c in closes):
        raise ValueError("daily closes must be positive integers")
    window = list(closes)[-(parameters.volatility_days + 1) :]
    if len(window) - 1 < parameters.min_volatility_returns:
        return parameters.fallback_volatility_ppm, False
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        ctx.rounding = decimal.ROUND_HALF_EVEN
        returns = [(Decimal(b) / Decimal(a)).ln() for a, b in itertools.pairwise(window)]
        mean = sum(returns, Decimal(0)) / len(returns)
        variance = sum(((r - mean) ** 2 for r in returns), Decimal(0)) / (len(returns) - 1)
        annual = variance.sqrt() * Decimal(parameters.days_per_year).sqrt()
        ppm = int((annual * PPM).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    return max(ppm, parameters.min_volatility_ppm), True
