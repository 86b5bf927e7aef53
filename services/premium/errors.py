"""Typed errors of the premium service (the GraphQL layer maps them to BAD_INPUT)."""

from __future__ import annotations

from services.core.models import RiskTier


class PremiumInputError(ValueError):
    """An input cannot be priced (non-positive amount, unknown tier, ...). `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TierMismatch(PremiumInputError):
    """The buyer named a tier other than the one the strike/spot ratio selects."""

    def __init__(self, requested: RiskTier, matched: RiskTier) -> None:
        super().__init__(
            "tier",
            f"requested tier {requested.value} does not match the strike/spot ratio, which selects {matched.value}",
        )
        self.requested = requested
        self.matched = matched


class PremiumExceedsCollateral(PremiumInputError):
    """The loaded premium would exceed the collateral: the registry refuses such a policy (u110), since a policy
    that costs more than it can ever pay out protects nothing. With the default parameters it happens only when
    annualized volatility is above about 100% (long, in-the-money policies first)."""

    def __init__(self, premium_ustx: int, collateral_ustx: int) -> None:
        super().__init__(
            "duration_days",
            f"the premium ({premium_ustx} uSTX) would exceed the collateral ({collateral_ustx} uSTX) at the current "
            "volatility; choose a shorter duration or a lower strike",
        )
        self.premium_ustx = premium_ustx
        self.collateral_ustx = collateral_ustx
