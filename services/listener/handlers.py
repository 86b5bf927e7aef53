"""Applying one confirmed event: the idempotent handlers behind the listener.

Each handler runs inside the listener's transaction for that event (with the lease fence, the event's
``applied`` flag and the cursor), so the state it writes and the checkpoint that covers it commit together.
Handlers are idempotent on their own as well: applying an event whose effect is already present changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.errors import Conflict
from services.listener.events import TIERS
from services.listener.store import REVERSE_CHAIN_ORDER, Document, now_utc, position_doc, position_of
from services.policies.models import PolicyRecord
from services.policies.status import TERMINAL, Cause, OnChainStatus, StatusDetailed, is_allowed
from services.store.policies import PolicyRepository, new_policy_id

log = logging.getLogger(__name__)

S = StatusDetailed


@dataclass
class HandlerResult:
    """``outcome`` applied (state written or already present) / invalid (inconsistent: nothing written)."""

    outcome: str
    reason: str | None = None
    extra: Document = field(default_factory=dict)


def to_record(doc: Document) -> PolicyRecord:
    return PolicyRecord.model_validate({**doc, "id": str(doc["_id"])})


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


async def fill_fields(
    db: AsyncDatabase[Document],
    policy: PolicyRecord,
    changes: Document,
    cause: Cause,
    details: Document,
    session: AsyncClientSession,
) -> bool:
    """Set fields a policy already in the right status lacks (e.g. the txid after a reconciliation): a
    conditional update with the version bump and an audit entry, like a transition without a status change."""
    missing = {k: v for k, v in changes.items() if _plain(getattr(policy, k, None)) != v}
    if not missing:
        return False
    now = now_utc()
    oid = ObjectId(policy.id)
    doc = await db.policies.find_one_and_update(
        {"_id": oid, "status_detailed": policy.status_detailed.value, "version": policy.version},
        {"$set": {**missing, "updated_at": now}, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
        session=session,
    )
    if doc is None:
        raise Conflict(f"policy {policy.id} changed while the listener filled its fields")
    await db.policy_events.insert_one(
        {
            "policy_id": oid,
            "version": doc["version"],
            "from_status": policy.status_detailed.value,
            "to_status": policy.status_detailed.value,
            "cause": cause.value,
            "at": now,
            "details": {**details, "filled": sorted(missing)},
        },
        session=session,
    )
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


def quote_id_of(payload: Document) -> str:
    return str(payload["quote-id"]).removeprefix("0x").lower()


async def update_policy_from_creation_event(
    db: AsyncDatabase[Document], policies: PolicyRepository, event: Document, session: AsyncClientSession
) -> HandlerResult:
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

    doc = await db.policies.find_one({"quote_id": quote_id}, session=session)
    if doc is None:
        holder = await db.policies.find_one({"policy_id_onchain": onchain_id}, session=session)
        if holder is not None:
            return HandlerResult("invalid", f"on-chain id {onchain_id} already belongs to policy {holder['_id']}")
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
        created = await policies.insert(record, Cause.CHAIN, {**details, "origin": "chain"}, session=session)
        log.info("policy %s created from chain (on-chain id %d, tx %s)", created.id, onchain_id, event["tx_id"])
        await _convert_reservation(db, quote_id, session)
        return HandlerResult("applied", extra={"policy": created.id})

    policy = to_record(doc)
    other = await db.policies.find_one(
        {"policy_id_onchain": onchain_id, "_id": {"$ne": doc["_id"]}}, projection={"_id": 1}, session=session
    )
    if other is not None:
        return HandlerResult("invalid", f"on-chain id {onchain_id} already belongs to policy {other['_id']}")
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
        await policies.transition(policy, S.Active, Cause.CHAIN, changes=changes, details=details, session=session)
        log.info("policy %s active (on-chain id %d, tx %s)", policy.id, onchain_id, event["tx_id"])
    else:
        # Already past creation (a replay, or reconciliation got there first): only fill what is missing; the
        # on-chain status may have moved on since this event.
        fill = {**terms, **chain_fields}
        if policy.status_onchain is not None:
            fill.pop("status_onchain")
        await fill_fields(db, policy, fill, Cause.CHAIN, details, session)
    await _convert_reservation(db, quote_id, session)
    return HandlerResult("applied", extra={"policy": policy.id})


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") and type(value).__module__.startswith("services.") else value


async def _convert_reservation(db: AsyncDatabase[Document], quote_id: str, session: AsyncClientSession) -> None:
    """The collateral is locked on chain now: the off-chain reservation is converted (never counted twice)."""
    await db.reservations.update_one(
        {"_id": quote_id, "status": {"$in": ["held", "released"]}},
        {"$set": {"status": "converted", "reason": "policy-created confirmed", "updated_at": now_utc()}},
        session=session,
    )


# --- policy-status-updated ------------------------------------------------------------------------------


async def update_policy_from_status_event(
    db: AsyncDatabase[Document], policies: PolicyRepository, event: Document, session: AsyncClientSession
) -> HandlerResult:
    """Move the policy to Settled / Expired with the settlement fields the event carries."""
    payload = event["payload"]
    onchain_id = int(payload["policy-id"])
    new_status = OnChainStatus(int(payload["new-status"]))
    target = S.Settled if new_status is OnChainStatus.SETTLED else S.Expired
    doc = await db.policies.find_one({"policy_id_onchain": onchain_id}, session=session)
    if doc is None:
        return HandlerResult("invalid", f"no policy with on-chain id {onchain_id} (its creation was never applied)")
    policy = to_record(doc)
    changes: Document = {
        "status_onchain": int(new_status),
        "settlement_ustx": payload["settlement-ustx"],
        "settlement_price_usd8": payload["settlement-price-usd8"],
        "tx_id_status_update": event["tx_id"],
        "settled_at": block_time(event),
    }
    details = {**_details(event), "policy_id_onchain": onchain_id, "new_status": int(new_status)}
    if policy.status_detailed is target:
        await fill_fields(db, policy, changes, Cause.CHAIN, details, session)
        return HandlerResult("applied", extra={"policy": policy.id})
    if policy.status_detailed in TERMINAL or not is_allowed(policy.status_detailed, target, Cause.CHAIN):
        return HandlerResult(
            "invalid", f"policy {policy.id} is {policy.status_detailed.value}; the chain says {target.value}"
        )
    await policies.transition(policy, target, Cause.CHAIN, changes=changes, details=details, session=session)
    log.info("policy %s %s (on-chain id %d, tx %s)", policy.id, target.value, onchain_id, event["tx_id"])
    return HandlerResult("applied", extra={"policy": policy.id})


# --- vault: the tier ledger -----------------------------------------------------------------------------

EMPTY_TIER: Document = {"capital_ustx": 0, "locked_ustx": 0, "premiums_ustx": 0, "settlements_ustx": 0}


def next_tier_state(state: Document, name: str, payload: Document) -> Document:
    """The tier totals after one vault event. Events carry the tier's totals after them where the vault prints
    them (tier-capital-ustx, tier-locked-ustx); the running premium and settlement totals are summed."""
    new = {k: int(state.get(k, 0)) for k in EMPTY_TIER}
    amount = int(payload.get("amount-ustx", 0))
    if name in ("funds-deposited", "funds-withdrawn"):
        new["capital_ustx"] = int(payload["tier-capital-ustx"])
    elif name in ("collateral-locked", "collateral-released"):
        new["locked_ustx"] = int(payload["tier-locked-ustx"])
    elif name == "premium-received":
        new["capital_ustx"] = int(payload["tier-capital-ustx"])
        new["premiums_ustx"] += amount
    elif name == "settlement-paid":
        new["capital_ustx"] -= amount
        new["locked_ustx"] -= amount
        new["settlements_ustx"] += amount
    return new


async def apply_vault_event(db: AsyncDatabase[Document], event: Document, session: AsyncClientSession) -> HandlerResult:
    payload = event["payload"]
    tier = str(payload["tier"])
    if tier not in TIERS:
        return HandlerResult("invalid", f"unknown tier {tier!r}")
    current = await db.tiers.find_one({"_id": tier}, session=session) or {"_id": tier, **EMPTY_TIER}
    last = current.get("last_event")
    if last is not None and position_of(last) >= position_of(event):
        return HandlerResult("applied", "tier already past this event", extra={"tier_after": _snapshot(current)})
    if last is not None:
        # Once the listener has applied an event of this tier, only the listener (and a reorg's re-derivation)
        # writes its `tiers` document, which is then exactly the snapshot after that event: fold from it. (A scan
        # of the tier's earlier events per event made ingestion quadratic in the stored history.)
        base: Document = _snapshot(current)
    else:
        # The first event of this tier the listener applies: fold from the snapshot of an earlier applied event if
        # a re-derivation left one, not from the document, which a get-tier resync (services/liquidity) may have
        # filled with the chain tip's totals, ahead of this event.
        previous = await db.chain_events.find_one(
            {
                "tier": tier,
                "canonical": True,
                "applied": True,
                "tier_after": {"$ne": None},
                "$or": [
                    {"block_height": {"$lt": event["block_height"]}},
                    {"block_height": event["block_height"], "tx_index": {"$lt": event.get("tx_index") or 0}},
                    {
                        "block_height": event["block_height"],
                        "tx_index": event.get("tx_index") or 0,
                        "event_index": {"$lt": event["event_index"]},
                    },
                ],
            },
            sort=REVERSE_CHAIN_ORDER,
            session=session,
        )
        base = previous["tier_after"] if previous else EMPTY_TIER
    state = next_tier_state(base, event["event"], payload)
    if state["capital_ustx"] < 0 or state["locked_ustx"] < 0:
        return HandlerResult("invalid", f"tier {tier} would go negative: {state}")
    await db.tiers.update_one(
        {"_id": tier},
        {"$set": {**state, "last_event": position_doc(event), "updated_at": now_utc()}},
        upsert=True,
        session=session,
    )
    return HandlerResult("applied", extra={"tier_after": state})


def _snapshot(doc: Document) -> Document:
    return {k: int(doc.get(k, 0)) for k in EMPTY_TIER}


# --- dispatch -------------------------------------------------------------------------------------------

NO_STATE_EVENTS = frozenset({"backend-principal-set", "quote-signer-set"})
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


async def apply_event(
    db: AsyncDatabase[Document], policies: PolicyRepository, event: Document, session: AsyncClientSession
) -> HandlerResult:
    name = event.get("event")
    if name == "policy-created":
        return await update_policy_from_creation_event(db, policies, event, session)
    if name == "policy-status-updated":
        return await update_policy_from_status_event(db, policies, event, session)
    if name in VAULT_EVENTS:
        return await apply_vault_event(db, event, session)
    if name in NO_STATE_EVENTS:
        return HandlerResult("applied", "no off-chain state")
    return HandlerResult("ignored", f"unknown event {name!r}")
