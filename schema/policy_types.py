"""Output types for policies, their pages and their audit trail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.enums import PolicyType, RiskTier, StatusDetailed
from schema.scalars import BigInt
from services.core.models import OracleSnapshot as OracleSnapshotRecord
from services.core.models import PolicyEventRecord, PolicyRecord
from services.store.policy_stats import PolicyStatsRow


@strawberry.type(description="Prices (and volatility) used for a computation, kept for the record.")
class OracleSnapshot:
    btc_usd8: BigInt = strawberry.field(name="btcUsd8")
    stx_usd8: BigInt = strawberry.field(name="stxUsd8")
    volatility_ppm: int | None
    sources: list[str]
    as_of: datetime

    @classmethod
    def from_record(cls, snap: OracleSnapshotRecord | None) -> OracleSnapshot | None:
        if snap is None:
            return None
        return cls(
            btc_usd8=BigInt(snap.btc_usd8),
            stx_usd8=BigInt(snap.stx_usd8),
            volatility_ppm=snap.volatility_ppm,
            sources=list(snap.sources),
            as_of=snap.as_of,
        )


@strawberry.type(description="A Bitcoin protection policy (a PUT on BTC paid in STX).")
class Policy:
    id: strawberry.ID
    policy_id_onchain: int | None = strawberry.field(
        name="policyIdOnChain", description="The registry contract's id, once the creation is confirmed."
    )
    owner: str
    counterparty: str | None
    policy_type: PolicyType
    protected_value_usd8: BigInt = strawberry.field(description="Strike price, USD x 1e8.")
    protected_amount_sats: BigInt = strawberry.field(description="Amount of BTC protected, in satoshis.")
    expiration_height: int = strawberry.field(description="Burn-chain height after which the policy expires.")
    risk_tier: RiskTier
    premium_ustx: BigInt
    collateral_ustx: BigInt
    status_onchain: int | None = strawberry.field(
        name="statusOnChain", description="0 Active, 1 Settled, 2 Expired; null before confirmation."
    )
    status_detailed: StatusDetailed
    quote_id: str | None
    quote_expiry_height: int | None
    tx_id_creation: str | None
    tx_id_status_update: str | None
    creation_height: int | None
    creation_burn_height: int | None
    created_at: datetime
    expiration_time_estimate: datetime | None
    settlement_ustx: BigInt | None
    settlement_price_usd8: BigInt | None
    settled_at: datetime | None
    oracle_snapshot_creation: OracleSnapshot | None
    oracle_snapshot_settlement: OracleSnapshot | None
    failure_reason: str | None
    version: int
    updated_at: datetime

    @classmethod
    def from_record(cls, r: PolicyRecord) -> Policy:
        return cls(
            id=strawberry.ID(r.id),
            policy_id_onchain=r.policy_id_onchain,
            owner=r.owner,
            counterparty=r.counterparty,
            policy_type=r.policy_type,
            protected_value_usd8=BigInt(r.protected_value_usd8),
            protected_amount_sats=BigInt(r.protected_amount_sats),
            expiration_height=r.expiration_height,
            risk_tier=r.risk_tier,
            premium_ustx=BigInt(r.premium_ustx),
            collateral_ustx=BigInt(r.collateral_ustx),
            status_onchain=int(r.status_onchain) if r.status_onchain is not None else None,
            status_detailed=r.status_detailed,
            quote_id=r.quote_id,
            quote_expiry_height=r.quote_expiry_height,
            tx_id_creation=r.tx_id_creation,
            tx_id_status_update=r.tx_id_status_update,
            creation_height=r.creation_height,
            creation_burn_height=r.creation_burn_height,
            created_at=r.created_at,
            expiration_time_estimate=r.expiration_time_estimate,
            settlement_ustx=BigInt(r.settlement_ustx) if r.settlement_ustx is not None else None,
            settlement_price_usd8=BigInt(r.settlement_price_usd8) if r.settlement_price_usd8 is not None else None,
            settled_at=r.settled_at,
            oracle_snapshot_creation=OracleSnapshot.from_record(r.oracle_snapshot_creation),
            oracle_snapshot_settlement=OracleSnapshot.from_record(r.oracle_snapshot_settlement),
            failure_reason=r.failure_reason,
            version=r.version,
            updated_at=r.updated_at,
        )


@strawberry.type(description="One state change of a policy and what caused it.")
class PolicyEvent:
    id: strawberry.ID
    version: int = strawberry.field(description="The policy's version after this change.")
    from_status: StatusDetailed | None
    to_status: StatusDetailed
    cause: str = strawberry.field(description="request, chain, monitor, job, operator or reconcile.")
    at: datetime
    details: JSON

    @classmethod
    def from_record(cls, e: PolicyEventRecord) -> PolicyEvent:
        return cls(
            id=strawberry.ID(e.id),
            version=e.version,
            from_status=e.from_status,
            to_status=e.to_status,
            cause=e.cause,
            at=e.at,
            details=JSON(e.details),
        )


@strawberry.type(description="Where a page sits in the whole list (Relay).")
class PageInfo:
    # Each side is known from the page's own read, except the far side of its cursor (before `after`, after
    # `before`): that costs one more read, made only when the field is selected.
    _has_next: strawberry.Private[Callable[[], Awaitable[bool]]]
    _has_previous: strawberry.Private[Callable[[], Awaitable[bool]]]

    @strawberry.field(description="More policies follow this page's last one.")
    async def has_next_page(self) -> bool:
        return await self._has_next()

    @strawberry.field(description="More policies precede this page's first one.")
    async def has_previous_page(self) -> bool:
        return await self._has_previous()

    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class PolicyEdge:
    node: Policy
    cursor: str


@strawberry.type(description="A page of policies in the requested order, with opaque keyset cursors.")
class PolicyConnection:
    # The page and the count are fetched only if asked for (a `totalCount`-only query reads no page), once each.
    _page: strawberry.Private[Callable[[], Awaitable[tuple[list[PolicyEdge], PageInfo]]]]
    _count: strawberry.Private[Callable[[], Awaitable[int]]]
    as_of: datetime = strawberry.field(
        description="The server's clock just before this list was read. A live list subscribes to "
        "`policiesUpdated(since:)` from a little before it, so no change made after the read is missed."
    )

    @strawberry.field
    async def edges(self) -> list[PolicyEdge]:
        return (await self._page())[0]

    @strawberry.field
    async def page_info(self) -> PageInfo:
        return (await self._page())[1]

    @strawberry.field(description="How many policies match the filter (all pages).")
    async def total_count(self) -> int:
        return await self._count()


@strawberry.type(description="Public policies of one tier in one status: how many, and their amounts summed.")
class PolicyStatsGroup:
    risk_tier: RiskTier
    status_detailed: StatusDetailed
    policy_count: int
    protected_amount_sats: BigInt = strawberry.field(description="BTC protected, satoshis.")
    collateral_ustx: BigInt = strawberry.field(
        description="Collateral the policies locked in the vault (still locked unless Settled or Expired)."
    )
    premium_ustx: BigInt = strawberry.field(description="Premiums paid.")

    @classmethod
    def from_row(cls, row: PolicyStatsRow) -> PolicyStatsGroup:
        return cls(
            risk_tier=row.risk_tier,
            status_detailed=row.status_detailed,
            policy_count=row.policy_count,
            protected_amount_sats=BigInt(row.protected_amount_sats),
            collateral_ustx=BigInt(row.collateral_ustx),
            premium_ustx=BigInt(row.premium_ustx),
        )


@strawberry.type(description="Totals over several groups.")
class PolicyStatsTotals:
    policy_count: int
    protected_amount_sats: BigInt
    collateral_ustx: BigInt
    premium_ustx: BigInt


@strawberry.type(
    description="Counts and sums of every public policy (pending creations are private, so never counted), "
    "aggregated by the database."
)
class PolicyStats:
    groups: list[PolicyStatsGroup] = strawberry.field(description="One per tier and status that has policies.")
    totals: PolicyStatsTotals
    as_of: datetime

    @classmethod
    def from_rows(cls, rows: list[PolicyStatsRow], as_of: datetime) -> PolicyStats:
        totals = PolicyStatsTotals(
            policy_count=sum(r.policy_count for r in rows),
            protected_amount_sats=BigInt(sum(r.protected_amount_sats for r in rows)),
            collateral_ustx=BigInt(sum(r.collateral_ustx for r in rows)),
            premium_ustx=BigInt(sum(r.premium_ustx for r in rows)),
        )
        return cls(groups=[PolicyStatsGroup.from_row(r) for r in rows], totals=totals, as_of=as_of)
