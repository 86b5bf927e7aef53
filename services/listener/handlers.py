"""Applying confirmed events: the idempotent handlers behind the listener.

Handlers work on a chunk's state in memory (:mod:`services.listener.chunk`): `apply_events` loads what a chunk's
events need, runs their handlers in the order given (chain order), and writes the result back inside the caller's
transaction, where the listener adds the events' outcomes and the cursor, so state and checkpoint commit together.
Every status change still goes through the status machine as it is staged. Handlers are idempotent on their own as
well: applying an event whose effect is already present changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.core.models import PolicyRecord
from services.core.status import TERMINAL, Cause, OnChainStatus, StatusDetailed, is_allowed
from services.listener.chunk import EMPTY_TIER, ChunkState, quote_id_of, tier_snapshot
from services.listener.events import TIERS
from services.store.chain_events import HandlerResult, position_of
from services.store.documents import new_policy_id
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)

S = StatusDetailed


def block_time(event: Document) -> datetime:
    """The event's block time (deterministic, unlike the wall clock: replays write the same values)."""
    value = event.get("block_time")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return now_utc()


def _details(event: Document) -> Document:
    return {
        "event": event["event"],
        "tx_id": event["tx_id"],
        "event_index": event["event_index"],
        "block_height": event["block_height"],
        "block_hash": event["block_hash"],
        "burn_block_height": event["burn_block_height"],
    }


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") and type(value).__module__.startswith("services.") else value


def fill_fields(state: ChunkState, policy: PolicyRecord, changes: Document, cause: Cause, details: Document) -> bool:
    """Set fields a policy already in the right status lacks (e.g. the txid after a reconciliation): a change
    with the version bump and an audit entry, like a transition without a status change."""
    missing = {k: v for k, v in changes.items() if _plain(getattr(policy, k, None)) != v}
    if not missing:
        return False
    state.policies.update_fields(policy, missing, cause, {**details, "filled": sorted(missing)})
    return True


# --- policy-created -------------------------------------------------------------------------------------


def _terms(payload: Document) -> Document:
    return {
        "owner": payload["owner"],
        "counterparty": payload["counterparty"],
        "policy_type": payload["policy-type"],
        "protected_value_usd8": payload["protected-value-usd8"],
        "protected_amount_sats": payload["protected-amount-sats"],
        "expiration_height": payload["expiration-height"],
        "risk_tier": payload["risk-tier"],
        "premium_ustx": payload["premium-ustx"],
        "collateral_ustx": payload["collateral-ustx"],
    }


def update_policy_from_creation_event(state: ChunkState, event: Document) -> HandlerResult:
    """Make the policy the event created Active (creating it if the service never saw the request) and
    convert its quote's reservation."""
    payload = event["payload"]
    onchain_id = int(payload["policy-id"])
    quote_id = quote_id_of(payload)
    terms = _terms(payload)
    chain_fields: Document = {
        "policy_id_onchain": onchain_id,
        "status_onchain": int(OnChainStatus.ACTIVE),
        "tx_id_creation": event["tx_id"],
        "creation_height": event["block_height"],
        "creation_burn_height": event["burn_block_height"],
        "counterparty": payload["counterparty"],
    }
    details = {**_details(event), "policy_id_onchain": onchain_id, "quote_id": quote_id}

    policy = state.policies.by_quote_id(quote_id)
    holder = state.policies.by_onchain_id(onchain_id)
    if policy is None:
        if holder is not None:
            return HandlerResult("invalid", f"on-chain id {onchain_id} already belongs to policy {holder.id}")
        now = now_utc()
        record = PolicyRecord.model_validate(
            {
                "id": new_policy_id(),
                **terms,
                **chain_fields,
                "status_detailed": S.Active,
                "quote_id": quote_id,
                "created_at": block_time(event),
                "updated_at": now,
            }
        )
        created = state.policies.insert(record, Cause.CHAIN, {**details, "origin": "chain"})
        log.info("policy %s created from chain (on-chain id %d, tx %s)", created.id, onchain_id, event["tx_id"])
        state.confirm_created(quote_id)
        return HandlerResult("applied")

    if holder is not None and holder.id != policy.id:
        return HandlerResult("invalid", f"on-chain id {onchain_id} already belongs to policy {holder.id}")
    if policy.policy_id_onchain is not None and policy.policy_id_onchain != onchain_id:
        return HandlerResult(
            "invalid", f"quote {quote_id} is policy {policy.id} with on-chain id {policy.policy_id_onchain}"
        )
    mismatched = sorted(k for k, v in terms.items() if _plain(getattr(policy, k)) != v)
    if mismatched:
        # The quote signature binds these terms on chain, so a mismatch means our record is wrong: the chain wins.
        log.warning(
            "policy %s: terms %s differ from its policy-created event; taking the chain's", policy.id, mismatched
        )
        details["terms_corrected"] = mismatched
    if policy.status_detailed in (S.PendingCreation, S.FailedCreation):
        changes = {**terms, **chain_fields, "failure_reason": None}
        state.policies.transition(policy, S.Active, Cause.CHAIN, changes=changes, details=details)
        log.info("policy %s active (on-chain id %d, tx %s)", policy.id, onchain_id, event["tx_id"])
    else:
        # Already past creation (a replay, or reconciliation got there first): only fill what is missing; the
        # on-chain status may have moved on since this event.
        fill = {**terms, **chain_fields}
        if policy.status_onchain is not None:
            fill.pop("status_onchain")
        fill_fields(state, policy, fill, Cause.CHAIN, details)
    state.confirm_created(quote_id)
    return HandlerResult("applied")


# --- policy-status-updated ------------------------------------------------------------------------------


def update_policy_from_status_event(state: ChunkState, event: Document) -> HandlerResult:
    """Move the policy to Settled / Expired with the settlement fields the event carries."""
    payload = event["payload"]
    onchain_id = int(payload["policy-id"])
    new_status = OnChainStatus(int(payload["new-status"]))
    target = S.Settled if new_status is OnChainStatus.SETTLED else S.Expired
    policy = state.policies.by_onchain_id(onchain_id)
    if policy is None:
        return HandlerResult("invalid", f"no policy with on-chain id {onchain_id} (its creation was never applied)")
    changes: Document = {
        "status_onchain": int(new_status),
        "settlement_ustx": payload["settlement-ustx"],
        "settlement_price_usd8": payload["settlement-price-usd8"],
        "tx_id_status_update": event["tx_id"],
        "settled_at": block_time(event),
    }
    details = {**_details(event), "policy_id_onchain": onchain_id, "new_status": int(new_status)}
    if policy.status_detailed is target:
        fill_fields(state, policy, changes, Cause.CHAIN, details)
        return HandlerResult("applied")
    if policy.status_detailed in TERMINAL or not is_allowed(policy.status_detailed, target, Cause.CHAIN):
        # Nothing is staged for a rejected move: the event is recorded invalid and the chunk goes on.
        return HandlerResult(
            "invalid", f"policy {policy.id} is {policy.status_detailed.value}; the chain says {target.value}"
        )
    state.policies.transition(policy, target, Cause.CHAIN, changes=changes, details=details)
    log.info("policy %s %s (on-chain id %d, tx %s)", policy.id, target.value, onchain_id, event["tx_id"])
    return HandlerResult("applied")


# --- vault: the tier ledger -----------------------------------------------------------------------------


def next_tier_state(state: Document, name: str, payload: Document) -> Document:
    """The tier totals after one vault event (contracts/README.md "Events"). Every vault event carries the tier
    totals it changed, as they are after it, so the mirror takes them as printed; only the running premium and
    settlement totals are summed. Capital excludes pending premiums: a premium vests into capital when its policy
    closes (`collateral-released`)."""
    new = tier_snapshot(state)
    amount = int(payload.get("amount-ustx", 0))
    if name in ("funds-deposited", "funds-withdrawn"):
        new["capital_ustx"] = int(payload["tier-capital-ustx"])
    elif name == "collateral-locked":
        new["locked_ustx"] = int(payload["tier-locked-ustx"])
    elif name == "premium-received":
        new["capital_ustx"] = int(payload["tier-capital-ustx"])
        new["pending_premiums_ustx"] = int(payload["tier-pending-premiums-ustx"])
        new["premiums_ustx"] += amount
    elif name == "settlement-paid":
        new["capital_ustx"] = int(payload["tier-capital-ustx"])
        new["locked_ustx"] = int(payload["tier-locked-ustx"])
        new["settlements_ustx"] += amount
    elif name == "collateral-released":
        new["capital_ustx"] = int(payload["tier-capital-ustx"])
        new["locked_ustx"] = int(payload["tier-locked-ustx"])
        new["pending_premiums_ustx"] = int(payload["tier-pending-premiums-ustx"])
    return new


async def apply_vault_event(state: ChunkState, event: Document) -> HandlerResult:
    payload = event["payload"]
    tier = str(payload["tier"])
    if tier not in TIERS:
        return HandlerResult("invalid", f"unknown tier {tier!r}")
    current = state.tier(tier)
    last = current.get("last_event")
    if last is not None and position_of(last) >= position_of(event):
        return HandlerResult("applied", "tier already past this event", tier_after=tier_snapshot(current))
    if last is not None:
        # Once the listener has applied an event of this tier, only the listener (and a reorg's re-derivation)
        # writes its `tiers` document, which is then exactly the snapshot after that event: fold from it. (A scan
        # of the tier's earlier events per event made ingestion quadratic in the stored history.)
        base: Document = tier_snapshot(current)
    else:
        # The first event of this tier the listener applies: fold from the snapshot of an earlier applied event if
        # a re-derivation left one, not from the document, which a get-tier resync (services/liquidity) may have
        # filled with the chain tip's totals, ahead of this event.
        base = await state.tier_snapshot_before(tier, event) or EMPTY_TIER
    after = next_tier_state(base, event["event"], payload)
    if after["capital_ustx"] < 0 or after["locked_ustx"] < 0:
        return HandlerResult("invalid", f"tier {tier} would go negative: {after}")
    state.set_tier(tier, after, event)
    return HandlerResult("applied", tier_after=after)


# --- dispatch -------------------------------------------------------------------------------------------

# Registry configuration, and the vault's surplus (STX outside every tier): nothing the service mirrors.
NO_STATE_EVENTS = frozenset(
    {"backend-principal-set", "quote-signer-set", "admin-proposed", "admin-transferred", "surplus-swept"}
)
VAULT_EVENTS = frozenset(
    {
        "funds-deposited",
        "funds-withdrawn",
        "collateral-locked",
        "premium-received",
        "settlement-paid",
        "collateral-released",
    }
)


async def _apply(state: ChunkState, event: Document) -> HandlerResult:
    name = event.get("event")
    if name == "policy-created":
        return update_policy_from_creation_event(state, event)
    if name == "policy-status-updated":
        return update_policy_from_status_event(state, event)
    if name in VAULT_EVENTS:
        return await apply_vault_event(state, event)
    if name in NO_STATE_EVENTS:
        return HandlerResult("applied", "no off-chain state")
    return HandlerResult("ignored", f"unknown event {name!r}")


async def apply_events(mongo: MongoStore, events: list[Document], session: AsyncClientSession) -> list[HandlerResult]:
    """Apply ``events`` in the order given, in ``session``'s transaction: read once, staged in memory, written
    back with a few bulk writes. Conflict (the caller's transaction aborts) if a policy changed under it."""
    state = await ChunkState.load(mongo, events, session)
    results = [await _apply(state, event) for event in events]
    await state.flush()
    return results


async def apply_event(mongo: MongoStore, event: Document, session: AsyncClientSession) -> HandlerResult:
    return (await apply_events(mongo, [event], session))[0]
