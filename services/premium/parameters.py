"""Premium parameters with the design's defaults (DESIGN §7 "Premium"); settings construct this object.

Dimensionless factors of the premium formula are `Decimal`s (never floats: they enter the Decimal math
unchanged). Thresholds and collateral ratios are integers in parts per million, because they take part in
exact integer comparisons and divisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from services.core.models import RiskTier
from services.premium.tiers import TierTerms

PPM = 1_000_000


def _check_decimal(name: str, value: object, *, positive: bool) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}")


def _check_ppm(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= PPM:
        raise ValueError(f"{name} must be an integer in (0, {PPM}]")


@dataclass(frozen=True, slots=True)
class PremiumParameters:
    """premium = BS_put × (1 + protocol_fee) × risk_load × (1 + duration_factor · T) × tier multiplier.

    risk_free_rate: r of Black-Scholes (continuously compounded, per year).
    protocol_fee: 0.01 = 1%.
    risk_load: the 1.5 factor.
    duration_factor: the 0.5 in (1 + 0.5·T).
    days_per_year: T = duration_days / days_per_year (BTC trades every day, hence 365).
    conservative_min_ppm / balanced_min_ppm: strike/spot thresholds for tier matching (inclusive).
    """

    risk_free_rate: Decimal = Decimal("0.02")
    protocol_fee: Decimal = Decimal("0.01")
    risk_load: Decimal = Decimal("1.5")
    duration_factor: Decimal = Decimal("0.5")
    days_per_year: int = 365
    conservative: TierTerms = field(
        default_factory=lambda: TierTerms(premium_multiplier=Decimal("0.8"), collateral_ratio_ppm=1_100_000)
    )
    balanced: TierTerms = field(
        default_factory=lambda: TierTerms(premium_multiplier=Decimal("1.0"), collateral_ratio_ppm=1_000_000)
    )
    aggressive: TierTerms = field(
        default_factory=lambda: TierTerms(premium_multiplier=Decimal("1.2"), collateral_ratio_ppm=900_000)
    )
    conservative_min_ppm: int = 950_000
    balanced_min_ppm: int = 850_000

    def __post_init__(self) -> None:
        _check_decimal("risk_free_rate", self.risk_free_rate, positive=False)
        _check_decimal("protocol_fee", self.protocol_fee, positive=False)
        _check_decimal("risk_load", self.risk_load, positive=True)
        _check_decimal("duration_factor", self.duration_factor, positive=False)
        if isinstance(self.days_per_year, bool) or not isinstance(self.days_per_year, int):
            raise ValueError("days_per_year must be an integer")
        if self.days_per_year <= 0:
            raise ValueError("days_per_year must be positive")
        for name in ("conservative", "balanced", "aggressive"):
            if not isinstance(getattr(self, name), TierTerms):
                raise ValueError(f"{name} must be TierTerms")
        _check_ppm("conservative_min_ppm", self.conservative_min_ppm)
        _check_ppm("balanced_min_ppm", self.balanced_min_ppm)
        if self.balanced_min_ppm >= self.conservative_min_ppm:
            raise ValueError("balanced_min_ppm must be below conservative_min_ppm")

    def terms(self, tier: RiskTier) -> TierTerms:
        if tier is RiskTier.Conservative:
            return self.conservative
        if tier is RiskTier.Balanced:
            return self.balanced
        return self.aggressive
