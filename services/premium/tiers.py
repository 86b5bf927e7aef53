"""Risk tiers' pricing terms. The tier names (`RiskTier`, as on chain and in the vault) are services.core.models'."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["TierTerms"]


@dataclass(frozen=True, slots=True)
class TierTerms:
    """Pricing terms of one tier.

    premium_multiplier: applied to the loaded Black-Scholes premium (dimensionless).
    collateral_ratio_ppm: collateral as a share of strike × amount, in parts per million (110% = 1_100_000).
    """

    premium_multiplier: Decimal
    collateral_ratio_ppm: int

    def __post_init__(self) -> None:
        if not isinstance(self.premium_multiplier, Decimal) or not self.premium_multiplier.is_finite():
            raise ValueError("premium_multiplier must be a finite Decimal")
        if self.premium_multiplier <= 0:
            raise ValueError("premium_multiplier must be positive")
        if isinstance(self.collateral_ratio_ppm, bool) or not isinstance(self.collateral_ratio_ppm, int):
            raise ValueError("collateral_ratio_ppm must be an integer")
        if self.collateral_ratio_ppm <= 0:
            raise ValueError("collateral_ratio_ppm must be positive")
