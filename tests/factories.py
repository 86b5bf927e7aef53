"""Builders for realistic policy records in tests."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from services.core.clock import now_utc
from services.core.models import OracleSnapshot, PolicyRecord, RiskTier
from services.core.status import StatusDetailed
from services.store.documents import new_policy_id

OWNER_A = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5"
OWNER_B = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG"
VAULT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.liquidity-pool-vault"

_onchain_ids = itertools.count(1)


def make_policy(**overrides: Any) -> PolicyRecord:
    now = now_utc()
    fields: dict[str, Any] = {
        "id": new_policy_id(),
        "owner": OWNER_A,
        "counterparty": VAULT,
        "protected_value_usd8": 9_500_000_000_000,  # $95,000 strike
        "protected_amount_sats": 10_000_000,  # 0.1 BTC
        "expiration_height": 1_000,
        "risk_tier": RiskTier.Conservative,
        "premium_ustx": 1_234_567,
        "collateral_ustx": 10_450_000_000,
        "status_detailed": StatusDetailed.PendingCreation,
        "created_at": now,
        "updated_at": now,
        "expiration_time_estimate": now + timedelta(days=30),
        "oracle_snapshot_creation": OracleSnapshot(
            btc_usd8=10_000_000_000_000, stx_usd8=100_000_000, volatility_ppm=300_000, sources=["local-1"], as_of=now
        ),
    }
    fields.update(overrides)
    return PolicyRecord(**fields)


def next_onchain_id() -> int:
    return next(_onchain_ids)
