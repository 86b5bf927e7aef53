"""The policy record as the service sees it (DESIGN §6): plain pydantic, independent of MongoDB and GraphQL."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.core.status import OnChainStatus, StatusDetailed


class RiskTier(StrEnum):
    Conservative = "Conservative"
    Balanced = "Balanced"
    Aggressive = "Aggressive"


class PolicyType(StrEnum):
    PUT = "PUT"


class OracleSnapshot(BaseModel):
    """The prices (and volatility) a computation used, kept with the policy for the record."""

    model_config = ConfigDict(frozen=True)

    btc_usd8: int
    stx_usd8: int
    volatility_ppm: int | None = None
    sources: list[str] = Field(default_factory=list)
    as_of: datetime


class PolicyRecord(BaseModel):
    model_config = ConfigDict(frozen=True, use_enum_values=False)

    id: str
    policy_id_onchain: int | None = None
    owner: str
    counterparty: str | None = None
    policy_type: PolicyType = PolicyType.PUT
    protected_value_usd8: int = Field(gt=0)
    protected_amount_sats: int = Field(gt=0)
    expiration_height: int = Field(ge=0)
    risk_tier: RiskTier
    premium_ustx: int = Field(ge=0)
    collateral_ustx: int = Field(ge=0)
    status_onchain: OnChainStatus | None = None
    status_detailed: StatusDetailed
    quote_id: str | None = None
    quote_expiry_height: int | None = None
    quote_signature: str | None = None  # hex of the 65-byte signature the creation transaction carries
    idempotency_key: str | None = None
    request_hash: str | None = None  # sha256 of the request the idempotency key is bound to (never exposed)
    tx_id_creation: str | None = None
    tx_id_status_update: str | None = None
    creation_height: int | None = None
    creation_burn_height: int | None = None
    created_at: datetime
    expiration_time_estimate: datetime | None = None
    settlement_ustx: int | None = None
    settlement_price_usd8: int | None = None
    settled_at: datetime | None = None
    oracle_snapshot_creation: OracleSnapshot | None = None
    oracle_snapshot_settlement: OracleSnapshot | None = None
    failure_reason: str | None = None
    version: int = 0
    updated_at: datetime


class PolicyEventRecord(BaseModel):
    """One entry of a policy's audit trail: a state change and what caused it."""

    model_config = ConfigDict(frozen=True)

    id: str
    policy_id: str
    version: int
    from_status: StatusDetailed | None
    to_status: StatusDetailed
    cause: str
    at: datetime
    details: dict[str, Any] = Field(default_factory=dict)
