"""The root types: every operation of the API, wired to its resolver."""

from __future__ import annotations

import strawberry

from resolvers import policies as policy_resolvers
from schema.policy_types import Policy, PolicyConnection, PolicyEvent


@strawberry.type
class Query:
    policy: Policy | None = strawberry.field(
        resolver=policy_resolvers.policy, description="A policy by its off-chain id."
    )
    policy_by_onchain_id: Policy | None = strawberry.field(
        resolver=policy_resolvers.policy_by_onchain_id,
        name="policyByOnChainId",
        description="A policy by the registry contract's id.",
    )
    policies: PolicyConnection = strawberry.field(
        resolver=policy_resolvers.policies,
        description="Policies, newest first, filtered; `first` is capped (see the error's `max`).",
    )
    policy_history: list[PolicyEvent] = strawberry.field(
        resolver=policy_resolvers.policy_history, description="Every state change of a policy, oldest first."
    )
