"""Public policies per tier and status, counted and summed by the database over a covering index."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.models import RiskTier
from services.core.status import StatusDetailed
from services.core.visibility import EVERYONE
from services.store.mongo import Document
from services.store.policy_filter import scope_query

# Sums of base-unit amounts over every public policy. Each fits an int64 with room to spare (all STX that will
# ever exist is 1.8e15 micro-STX, all bitcoin 2.1e15 sats; int64 holds 9.2e18), so the database sums exactly.
STATS_SUMS = ("protected_amount_sats", "collateral_ustx", "premium_ustx")

STATS_INDEX = "stats_cover"


@dataclass(frozen=True)
class PolicyStatsRow:
    risk_tier: RiskTier
    status_detailed: StatusDetailed
    policy_count: int
    protected_amount_sats: int
    collateral_ustx: int
    premium_ustx: int


def stats_pipeline() -> list[Document]:
    """Public policies grouped by tier and status; the first stage's range is on the covering index's lead."""
    return [
        {"$match": scope_query(EVERYONE)},
        {
            "$group": {
                "_id": {"tier": "$risk_tier", "status": "$status_detailed"},
                "policy_count": {"$sum": 1},
                **{field: {"$sum": f"${field}"} for field in STATS_SUMS},
            }
        },
    ]


def stats_rows(docs: list[Document]) -> list[PolicyStatsRow]:
    """The pipeline's groups as rows, ordered by tier then status; ValueError if a sum is not an exact integer."""
    rows = []
    for doc in docs:
        sums = {name: doc[name] for name in ("policy_count", *STATS_SUMS)}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in sums.values()):
            raise ValueError(f"policy stats are not exact integers: {sums}")  # a double: an overflowed sum
        sums = {name: int(v) for name, v in sums.items()}
        rows.append(PolicyStatsRow(RiskTier(doc["_id"]["tier"]), StatusDetailed(doc["_id"]["status"]), **sums))
    return sorted(rows, key=lambda r: (r.risk_tier.value, r.status_detailed.value))
