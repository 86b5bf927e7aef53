"""Typed errors of the premium service (the GraphQL layer maps them to BAD_INPUT)."""

from __future__ import annotations

from services.premium.tiers import RiskTier


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
