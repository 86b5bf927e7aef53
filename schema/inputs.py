"""Input types."""

from __future__ import annotations

import strawberry

from schema.enums import RiskTier, StatusDetailed
from services.policies.queries import status_set
from services.store.policy_filter import PolicyFilter


@strawberry.input(description="Filters for `policies`; all given fields must match.")
class PolicyFilterInput:
    owner: str | None = None
    status_detailed: StatusDetailed | None = None
    status_in: list[StatusDetailed] | None = strawberry.field(
        default=None,
        description="Only policies in one of these statuses (Active, Settling, Expiring: the open ones). With "
        "statusDetailed too, both must hold.",
    )
    risk_tier: RiskTier | None = None
    expires_before: int | None = strawberry.field(
        default=None, description="Only policies whose expiration burn height is lower than this."
    )
    expires_after: int | None = strawberry.field(
        default=None, description="Only policies whose expiration burn height is greater than this."
    )

    def to_filter(self) -> PolicyFilter:
        return PolicyFilter(
            owner=self.owner,
            status_detailed=self.status_detailed,
            status_in=status_set(self.status_in),
            risk_tier=self.risk_tier,
            expires_before=self.expires_before,
            expires_after=self.expires_after,
        )
