"""GraphQL enums: the domain's own enums, registered with Strawberry (their member names are the API's values)."""

from __future__ import annotations

import strawberry

from services.core.models import PolicyType, RiskTier
from services.core.status import StatusDetailed
from services.store.policy_order import PolicyOrder

strawberry.enum(StatusDetailed, description="A policy's detailed lifecycle status (on-chain and off-chain).")
strawberry.enum(RiskTier, description="The liquidity pool tier backing a policy.")
strawberry.enum(PolicyType, description="The option type: only PUT for now.")
strawberry.enum(
    PolicyOrder,
    description="The order of a policy list. Ties in the first key go newest first; cursors belong to one order.",
)

__all__ = ["PolicyOrder", "PolicyType", "RiskTier", "StatusDetailed"]
