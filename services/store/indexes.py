"""Every index the service's queries need, created idempotently at start-up.

Index names are stable because the policy repository hints them: the query shape decides the index, not the
planner's guess (SecantusDB's planner is simpler than mongod's).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.store.names import Collection

POLICY_INDEXES: dict[str, IndexModel] = {
    "owner_id": IndexModel([("owner", ASCENDING), ("_id", DESCENDING)], name="owner_id"),
    "owner_status_id": IndexModel(
        [("owner", ASCENDING), ("status_detailed", ASCENDING), ("_id", DESCENDING)], name="owner_status_id"
    ),
    "status_id": IndexModel([("status_detailed", ASCENDING), ("_id", DESCENDING)], name="status_id"),
    # The expiration job's range (status, height < burn) and lists by status in EXPIRATION_HEIGHT_ASC order.
    "status_expiration_id": IndexModel(
        [("status_detailed", ASCENDING), ("expiration_height", ASCENDING), ("_id", DESCENDING)],
        name="status_expiration_id",
    ),
    "tier_id": IndexModel([("risk_tier", ASCENDING), ("_id", DESCENDING)], name="tier_id"),
    "expiration_id": IndexModel([("expiration_height", ASCENDING), ("_id", DESCENDING)], name="expiration_id"),
    # The other list orders (services/store/policy_order.py): each order's key, then _id, behind the equality a
    # list view filters by most (an owner, or statuses). docs/performance.md "Orders and indexes".
    "owner_expiration_id": IndexModel(
        [("owner", ASCENDING), ("expiration_height", ASCENDING), ("_id", DESCENDING)], name="owner_expiration_id"
    ),
    "premium_id": IndexModel([("premium_ustx", DESCENDING), ("_id", DESCENDING)], name="premium_id"),
    "owner_premium_id": IndexModel(
        [("owner", ASCENDING), ("premium_ustx", DESCENDING), ("_id", DESCENDING)], name="owner_premium_id"
    ),
    "status_premium_id": IndexModel(
        [("status_detailed", ASCENDING), ("premium_ustx", DESCENDING), ("_id", DESCENDING)], name="status_premium_id"
    ),
    # `stats`: every field the aggregation reads, led by the status range, so MongoDB answers it from the index
    # alone (a covered scan, no document fetched).
    "stats_cover": IndexModel(
        [
            ("status_detailed", ASCENDING),
            ("risk_tier", ASCENDING),
            ("protected_amount_sats", ASCENDING),
            ("collateral_ustx", ASCENDING),
            ("premium_ustx", ASCENDING),
        ],
        name="stats_cover",
    ),
    "policy_id_onchain_unique": IndexModel(
        [("policy_id_onchain", ASCENDING)],
        name="policy_id_onchain_unique",
        unique=True,
        partialFilterExpression={"policy_id_onchain": {"$type": "number"}},
    ),
    "quote_id_unique": IndexModel(
        [("quote_id", ASCENDING)],
        name="quote_id_unique",
        unique=True,
        partialFilterExpression={"quote_id": {"$type": "string"}},
    ),
    "idempotency_unique": IndexModel(
        [("owner", ASCENDING), ("idempotency_key", ASCENDING)],
        name="idempotency_unique",
        unique=True,
        partialFilterExpression={"idempotency_key": {"$type": "string"}},
    ),
    # Lookups by quote / on-chain id (the listener's `$in` over a chunk's events). SecantusDB's planner only uses a
    # partial index when the query implies its filter, which it cannot prove for `$type`, so the unique partial
    # indexes above left those lookups scanning every policy; these plain ones serve them.
    "quote_id": IndexModel([("quote_id", ASCENDING)], name="quote_id"),
    "policy_id_onchain": IndexModel([("policy_id_onchain", ASCENDING)], name="policy_id_onchain"),
}

POLICY_EVENT_INDEXES: list[IndexModel] = [
    # One audit entry per policy version: a double-applied transition cannot write a second entry.
    IndexModel([("policy_id", ASCENDING), ("version", ASCENDING)], name="policy_version_unique", unique=True),
]

# Oracle samples are only read 15 minutes back; two days of them is plenty for diagnosis.
PRICE_SAMPLE_RETENTION_S = 2 * 24 * 3600
PRICE_INDEXES: list[IndexModel] = [
    IndexModel([("asset", ASCENDING), ("observed_at", DESCENDING)], name="asset_observed"),
    IndexModel([("observed_at", ASCENDING)], name="samples_ttl", expireAfterSeconds=PRICE_SAMPLE_RETENTION_S),
]
PRICE_DAILY_INDEXES: list[IndexModel] = [IndexModel([("asset", ASCENDING), ("day", ASCENDING)], name="asset_day")]

RESERVATION_INDEXES: list[IndexModel] = [
    IndexModel([("tier", ASCENDING), ("status", ASCENDING), ("expires_burn_height", ASCENDING)], name="tier_held"),
    IndexModel([("status", ASCENDING), ("expires_burn_height", ASCENDING)], name="held_expiry"),
    # a wallet's open reservations: the per-wallet bounds of policy creation (services/store/reservations.py)
    IndexModel([("owner", ASCENDING), ("status", ASCENDING), ("expires_burn_height", ASCENDING)], name="owner_held"),
]
QUOTE_INDEXES: list[IndexModel] = [
    IndexModel([("expires_at", ASCENDING)], name="quotes_ttl", expireAfterSeconds=24 * 3600),
]
# the chain listener (services/listener): raw events, unique on (tx_id, event_index), read in chain order
_CHAIN_ORDER = [("block_height", ASCENDING), ("tx_index", ASCENDING), ("event_index", ASCENDING)]
CHAIN_EVENT_INDEXES: list[IndexModel] = [
    IndexModel([("tx_id", ASCENDING), ("event_index", ASCENDING)], name="tx_event_unique", unique=True),
    IndexModel([("outcome", ASCENDING), *_CHAIN_ORDER], name="outcome_order"),
    IndexModel([("canonical", ASCENDING), ("block_height", ASCENDING)], name="canonical_height"),
    IndexModel([("quote_id", ASCENDING), ("event", ASCENDING)], name="quote_event"),
    IndexModel([("policy_id_onchain", ASCENDING), ("event", ASCENDING)], name="policy_event"),
    IndexModel([("tier", ASCENDING), ("outcome", ASCENDING), *_CHAIN_ORDER], name="tier_order"),
]

# Live updates (docs/subscriptions.md): `policiesUpdated(owner, since)` catch-up reads by owner and updated_at;
# challenges and sessions are kept a day past their expiry (for support questions), then the TTL monitor drops them.
POLICY_CHANGE_INDEXES: list[IndexModel] = [
    IndexModel([("owner", ASCENDING), ("updated_at", ASCENDING)], name="owner_updated"),
]
AUTH_CHALLENGE_INDEXES: list[IndexModel] = [
    IndexModel([("address", ASCENDING), ("created_at", DESCENDING)], name="address_created"),
    # the per-client bound on open challenges (services/auth/service.py)
    IndexModel([("client", ASCENDING), ("expires_at", ASCENDING)], name="client_expires"),
    IndexModel([("expires_at", ASCENDING)], name="challenges_ttl", expireAfterSeconds=24 * 3600),
]
SESSION_INDEXES: list[IndexModel] = [
    IndexModel([("expires_at", ASCENDING)], name="sessions_ttl", expireAfterSeconds=24 * 3600),
]

# Backend transactions: at most one in flight per (policy, action) — the partial unique index is the guarantee.
BACKEND_TX_INDEXES: list[IndexModel] = [
    IndexModel(
        [("policy_id", ASCENDING), ("action", ASCENDING)],
        name="one_active_per_policy_action",
        unique=True,
        partialFilterExpression={"active": {"$eq": True}},
    ),
    IndexModel([("policy_id", ASCENDING), ("action", ASCENDING), ("attempt", ASCENDING)], name="attempts", unique=True),
    IndexModel([("active", ASCENDING), ("next_try_at", ASCENDING)], name="due"),
]


# Indexes an earlier version created that a wider one now serves: dropped at start-up when present.
RETIRED_POLICY_INDEXES = ("status_expiration",)  # → status_expiration_id (same prefix, plus _id)


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[Collection.POLICIES].create_indexes(list(POLICY_INDEXES.values()))
    existing = {index["name"] async for index in await db[Collection.POLICIES].list_indexes()}
    for name in RETIRED_POLICY_INDEXES:
        if name in existing:
            await db[Collection.POLICIES].drop_index(name)
    await db[Collection.POLICY_EVENTS].create_indexes(POLICY_EVENT_INDEXES)
    await db[Collection.PRICES].create_indexes(PRICE_INDEXES)
    await db[Collection.PRICE_DAILY].create_indexes(PRICE_DAILY_INDEXES)
    await db[Collection.RESERVATIONS].create_indexes(RESERVATION_INDEXES)
    await db[Collection.QUOTES].create_indexes(QUOTE_INDEXES)
    await db[Collection.CHAIN_EVENTS].create_indexes(CHAIN_EVENT_INDEXES)
    await db[Collection.POLICIES].create_indexes(POLICY_CHANGE_INDEXES)
    await db[Collection.AUTH_CHALLENGES].create_indexes(AUTH_CHALLENGE_INDEXES)
    await db[Collection.SESSIONS].create_indexes(SESSION_INDEXES)
    await db[Collection.BACKEND_TXS].create_indexes(BACKEND_TX_INDEXES)
