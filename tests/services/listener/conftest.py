from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.chain import RetryPolicy, StacksApiClient
from services.core.fencing import Unfenced
from services.core.models import PolicyRecord
from services.core.status import Cause, StatusDetailed
from services.listener.poller import ChainListener, ListenerConfig
from services.store.documents import new_policy_id
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

from .fake_chain import REGISTRY, VAULT, FakeChain, PolicyTerms, run_fake_chain


@pytest.fixture
def chain() -> Iterator[FakeChain]:
    yield from run_fake_chain(FakeChain())


@pytest.fixture
async def client(chain: FakeChain) -> AsyncIterator[StacksApiClient]:
    fast = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.2)
    async with StacksApiClient(chain.base_url, retry=fast, timeout=5) as api:
        yield api


def make_listener(store: MongoStore, client: StacksApiClient, **config: Any) -> ChainListener:
    cfg = ListenerConfig(
        registry_contract_id=REGISTRY, vault_contract_id=VAULT, **{"confirmations": 1, "page_size": 5, **config}
    )
    return ChainListener(store, client, cfg, Unfenced())


@pytest.fixture
def listener(store: MongoStore, client: StacksApiClient) -> ChainListener:
    return make_listener(store, client)


async def pending_policy(
    store: MongoStore, terms: PolicyTerms, *, tx_id: str | None = None, quote_expiry: int = 10_000
) -> PolicyRecord:
    """A policy as the creation flow stores it (PendingCreation) with its held reservation."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    record = PolicyRecord(
        id=new_policy_id(),
        owner=terms.owner,
        counterparty=VAULT,
        protected_value_usd8=terms.strike,
        protected_amount_sats=terms.amount,
        expiration_height=terms.expiration,
        risk_tier=terms.tier,
        premium_ustx=terms.premium,
        collateral_ustx=terms.collateral,
        status_detailed=StatusDetailed.PendingCreation,
        quote_id=terms.quote_id.hex(),
        quote_expiry_height=quote_expiry,
        tx_id_creation=tx_id,
        created_at=now,
        updated_at=now,
    )
    inserted = await PolicyRepository(store).insert(record, Cause.REQUEST, {"test": True})
    await store.db.reservations.insert_one(
        {
            "_id": terms.quote_id.hex(),
            "tier": terms.tier,
            "amount_ustx": terms.collateral,
            "policy_id": inserted.id,
            "owner": terms.owner,
            "expires_burn_height": quote_expiry,
            "status": "held",
            "created_at": now,
            "updated_at": now,
            "reason": None,
        }
    )
    return inserted


async def state_digest(store: MongoStore) -> tuple[str, dict[str, Any]]:
    """A hash of everything the listener derives, without ids and wall-clock times (which differ per run)."""
    db = store.db
    volatile = {"_id", "updated_at", "id"}
    policies = {}
    keys_by_oid = {}
    for doc in await db.policies.find().to_list(None):
        keys_by_oid[doc["_id"]] = doc["quote_id"]
        policies[doc["quote_id"]] = {k: v for k, v in doc.items() if k not in volatile}
    history: dict[str, list[Any]] = {}
    for e in await db.policy_events.find().sort([("policy_id", 1), ("version", 1)]).to_list(None):
        history.setdefault(keys_by_oid.get(e["policy_id"], "?"), []).append(
            (e["version"], e["from_status"], e["to_status"], e["cause"])
        )
    tiers = {d["_id"]: {k: v for k, v in d.items() if k not in volatile} for d in await db.tiers.find().to_list(None)}
    events = sorted(
        (d["_id"], d["canonical"], d["applied"], d["outcome"], d["block_hash"], d.get("tier_after"))
        for d in await db.chain_events.find().to_list(None)
    )
    reservations = {d["_id"]: d["status"] for d in await db.reservations.find().to_list(None)}
    cursor = await db.chain_cursor.find_one({"_id": "listener"}) or {}
    state = {
        "policies": {k: policies[k] for k in sorted(policies)},
        "history": {k: history[k] for k in sorted(history)},
        "tiers": tiers,
        "events": events,
        "reservations": reservations,
        "applied_through": cursor.get("applied_through"),
    }
    blob = json.dumps(state, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest(), state
