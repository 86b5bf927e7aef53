"""Which policies a list asks for, as a MongoDB query, and the index that serves it."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.models import RiskTier
from services.core.status import StatusDetailed
from services.core.visibility import PRIVATE_STATUSES, ListScope, list_scope
from services.store.mongo import Document
from services.store.policy_order import PolicyOrder


def scope_query(scope: ListScope) -> Document:
    """The query of what a list may show under `scope` (services/core/visibility.py says what it hides)."""
    public: Document = {"status_detailed": {"$nin": sorted(s.value for s in PRIVATE_STATUSES)}}
    return public if scope.except_owner is None else {"$or": [public, {"owner": scope.except_owner}]}


@dataclass(frozen=True)
class PolicyFilter:
    owner: str | None = None
    status_detailed: StatusDetailed | None = None
    status_in: frozenset[StatusDetailed] | None = None  # any of these (with status_detailed: both must hold)
    risk_tier: RiskTier | None = None
    expires_before: int | None = None  # expiration_height < value (burn height)
    expires_after: int | None = None  # expiration_height > value
    # Set by the API: creations not on chain yet are private to their owner (docs/security.md). With
    # public_only, such policies match only when `viewer` (the signed-in address, None if anonymous) owns them.
    public_only: bool = False
    viewer: str | None = None

    def statuses(self) -> frozenset[StatusDetailed] | None:
        """The statuses a policy may have to match; None when the filter leaves the status open."""
        if self.status_detailed is None:
            return self.status_in
        one = frozenset({self.status_detailed})
        return one if self.status_in is None else one & self.status_in

    def query(self) -> Document:
        q: Document = {}
        if self.owner is not None:
            q["owner"] = self.owner
        statuses = self.statuses()
        if statuses is not None:
            values = sorted(s.value for s in statuses)
            q["status_detailed"] = values[0] if len(values) == 1 else {"$in": values}
        if self.risk_tier is not None:
            q["risk_tier"] = self.risk_tier.value
        height: Document = {}
        if self.expires_before is not None:
            height["$lt"] = self.expires_before
        if self.expires_after is not None:
            height["$gt"] = self.expires_after
        if height:
            q["expiration_height"] = height
        scope = list_scope(self.owner, self.viewer, statuses) if self.public_only else None
        if scope is not None:
            hidden = scope_query(scope)
            q = {"$and": [q, hidden]} if q else hidden
        return q

    def index_hint(self, order: PolicyOrder = PolicyOrder.CREATED_AT_DESC) -> str:
        """The index that serves this filter's shape in `order` (docs/performance.md, "Orders and indexes")."""
        by_status = self.statuses() is not None
        if order is PolicyOrder.EXPIRATION_HEIGHT_ASC:
            if self.owner is not None:
                return "owner_expiration_id"
            return "status_expiration_id" if by_status else "expiration_id"
        if order is PolicyOrder.PREMIUM_DESC:
            if self.owner is not None:
                return "owner_premium_id"
            return "status_premium_id" if by_status else "premium_id"
        if self.owner is not None:
            return "owner_status_id" if by_status else "owner_id"
        if by_status:
            return "status_id"
        if self.risk_tier is not None:
            return "tier_id"
        if self.expires_before is not None or self.expires_after is not None:
            return "expiration_id"
        return "_id_"
