"""The names the database knows: collections, and the fixed document ids of `chain_state` and `chain_cursor`.

Only the store uses them; everything else asks a repository (docs/architecture.md)."""

from __future__ import annotations

from typing import Final


class Collection:
    POLICIES: Final = "policies"
    POLICY_EVENTS: Final = "policy_events"
    QUOTES: Final = "quotes"
    CHAIN_EVENTS: Final = "chain_events"
    CHAIN_CURSOR: Final = "chain_cursor"
    CHAIN_STATE: Final = "chain_state"
    BACKEND_TXS: Final = "backend_txs"
    PRICES: Final = "prices"
    PRICE_DAILY: Final = "price_daily"
    LOCAL_PRICES: Final = "local_prices"
    TIERS: Final = "tiers"
    TIER_LOCKS: Final = "tier_locks"
    WALLET_LOCKS: Final = "wallet_locks"
    RESERVATIONS: Final = "reservations"
    SESSIONS: Final = "sessions"
    AUTH_CHALLENGES: Final = "auth_challenges"
    LEASES: Final = "leases"
    STREAM_TOKENS: Final = "stream_tokens"


class ChainStateId:
    """`_id`s of the `chain_state` documents (and of the listener's `chain_cursor` document)."""

    TIP: Final = "tip"  # the chain tip, written by the listener on each poll
    LISTENER: Final = "listener"  # the listener's progress (and, in chain_cursor, its cursor)
    RECONCILIATION: Final = "reconciliation"  # the last reconciliation run
