"""Reorg safety: finding orphaned blocks, and re-deriving what their events had changed.

A block that held ingested events is orphaned when the API calls it non-canonical, or no longer knows its hash
and has another block at its height. Its events become non-canonical in one transaction that also re-derives
every affected policy and tier from the events that remain canonical and applied (never a blind overwrite):

- a policy whose `policy-created` is gone goes back to PendingCreation (its on-chain fields cleared, its
  reservation held again); the transaction monitor then follows its creation tx as for any pending policy, and
  the quote-expiry rules end it if the tx never comes back. A policy with no quote of ours behind it (inserted
  from its `policy-created`: no `quote_expiry_height`) has nothing that would ever end that pending creation, so
  it goes on to FailedCreation ("creation block orphaned: …", Cause.JOB); a re-mined creation makes it Active again;
- a policy whose `policy-status-updated` is gone reopens to the status its audit trail shows before that event;
- a tier is restored to the snapshot stored with its newest remaining vault event (zeros if none).

Each policy move is a status transition with Cause.REORG, recorded in `policy_events`. Events of a re-mined
transaction come back through ingestion (same key, new block) and are applied again in chain order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.chain import ChainNotFound, StacksApiClient
from services.core.clock import now_utc
from services.core.fencing import Fence
from services.core.models import PolicyRecord
from services.core.status import TERMINAL, Cause, StatusDetailed, is_allowed
from services.listener.handlers import EMPTY_TIER, to_record
from services.listener.store import REVERSE_CHAIN_ORDER, Document, ListenerStore, position_doc
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)

S = StatusDetailed

_CREATION_FIELDS_CLEARED: Document = {
    "policy_id_onchain": None,
    "status_onchain": None,
    "creation_height": None,
    "creation_burn_height": None,
}
_STATUS_FIELDS_CLEARED: Document = {
    "settlement_ustx": None,
    "settlement_price_usd8": None,
    "tx_id_status_update": None,
    "settled_at": None,
}


@dataclass
class OrphanReport:
    events: int = 0
    blocks: list[str] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)  # policy id → the status it was re-derived to
    tiers: list[str] = field(default_factory=list)


async def orphaned_blocks(client: StacksApiClient, blocks: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The blocks (of those holding our events) that are no longer on the canonical chain."""
    orphaned = []
    for height, block_hash in blocks:
        try:
            block = await client.get_block(block_hash)
        except ChainNotFound:
            block = None
        if block is not None:
            if block.canonical and block.hash == block_hash:
                continue
            orphaned.append((height, block_hash))
            continue
        try:
            at_height = await client.get_block(height)
        except ChainNotFound:
            at_height = None
        if at_height is None or at_height.hash != block_hash:
            orphaned.append((height, block_hash))
    return orphaned


async def orphan_events(
    mongo: MongoStore,
    lstore: ListenerStore,
    policies: PolicyRepository,
    fence: Fence,
    query: Document,
    why: str,
) -> OrphanReport:
    """Mark the canonical events matching ``query`` orphaned and re-derive what they had changed, atomically."""

    async def work(session: AsyncClientSession) -> OrphanReport:
        report = OrphanReport()
        await fence.fence(session)
        db = lstore.db
        docs = await lstore.events.find({**query, "canonical": True}, session=session).to_list(length=None)
        if not docs:
            return report
        report.events = len(docs)
        report.blocks = sorted({str(d["block_hash"]) for d in docs})
        affected: dict[Any, Document] = {}
        tiers: set[str] = set()
        for doc in docs:
            if doc.get("event") == "policy-created" and doc.get("quote_id"):
                policy = await db.policies.find_one({"quote_id": doc["quote_id"]}, session=session)
            elif doc.get("event") == "policy-status-updated" and doc.get("policy_id_onchain") is not None:
                policy = await db.policies.find_one({"policy_id_onchain": doc["policy_id_onchain"]}, session=session)
            else:
                policy = None
            if policy is not None:
                affected[policy["_id"]] = policy
            if doc.get("tier") and doc.get("applied"):
                tiers.add(str(doc["tier"]))
        keys = [d["_id"] for d in docs]
        await lstore.events.update_many(
            {"_id": {"$in": keys}, "applied": True},
            {"$set": {"canonical": False, "applied": False, "outcome": "orphaned", "orphaned_at": now_utc()}},
            session=session,
        )
        await lstore.events.update_many(
            {"_id": {"$in": keys}}, {"$set": {"canonical": False, "orphaned_at": now_utc()}}, session=session
        )
        details = {"why": why, "blocks": report.blocks, "events": keys[:50]}
        for oid in sorted(affected, key=str):
            # re-read inside the transaction: an earlier re-derivation in this loop may have moved it
            current = await db.policies.find_one({"_id": oid}, session=session)
            if current is None:
                continue
            target = await rederive_policy(lstore, policies, current, details, session)
            if target is not None:
                report.policies[str(oid)] = target.value
        for tier in sorted(tiers):
            await rederive_tier(lstore, tier, session)
            report.tiers.append(tier)
        await lstore.recompute_applied_through(session)
        lowest = min(int(d["block_height"]) for d in docs)
        cursor = await lstore.cursor.find_one({"_id": "listener"}, session=session) or {}
        synced = cursor.get("synced_height")
        if synced is not None and synced >= lowest:
            await lstore.set_cursor({"synced_height": lowest - 1}, session=session)
        return report

    report = await mongo.transaction(work)
    if report.events:
        log.warning(
            "%s: %d event(s) in %d block(s) orphaned; re-derived policies %s, tiers %s",
            why,
            report.events,
            len(report.blocks),
            report.policies,
            report.tiers,
        )
    return report


async def _status_before_chain_close(lstore: ListenerStore, policy_oid: ObjectId, status: S, session: Any) -> S:
    """The status the audit trail shows before the policy reached ``status`` from the chain (or reconciliation)."""
    entry = await lstore.db.policy_events.find_one(
        {
            "policy_id": policy_oid,
            "to_status": status.value,
            "cause": {"$in": [Cause.CHAIN.value, Cause.RECONCILE.value]},
        },
        sort=[("version", -1)],
        session=session,
    )
    previous = entry.get("from_status") if entry else None
    if previous is not None and is_allowed(status, S(previous), Cause.REORG):
        return S(previous)
    return S.Active


async def rederive_policy(
    lstore: ListenerStore,
    policies: PolicyRepository,
    doc: Document,
    details: Document,
    session: AsyncClientSession,
) -> S | None:
    """Bring one policy in line with its remaining canonical, applied events; the new status, or None if none."""
    policy = to_record(doc)
    events = lstore.events
    creation = None
    if policy.quote_id:
        creation = await events.find_one(
            {"event": "policy-created", "quote_id": policy.quote_id, "canonical": True, "applied": True},
            session=session,
        )
    if creation is None:
        if policy.status_detailed in (S.PendingCreation, S.FailedCreation):
            return None
        changes = {**_CREATION_FIELDS_CLEARED, **_STATUS_FIELDS_CLEARED}
        pending = await policies.transition(
            policy, S.PendingCreation, Cause.REORG, changes=changes, details=details, session=session
        )
        if policy.quote_id:
            await lstore.db.reservations.update_one(
                {"_id": policy.quote_id, "status": "converted"},
                {"$set": {"status": "held", "reason": "reorg: policy-created orphaned", "updated_at": now_utc()}},
                session=session,
            )
        if pending.quote_expiry_height is None:
            return await _fail_orphaned_creation(policies, pending, details, session)
        log.warning("policy %s back to PendingCreation: its policy-created was orphaned", policy.id)
        return S.PendingCreation
    closing = await events.find_one(
        {
            "event": "policy-status-updated",
            "policy_id_onchain": creation["policy_id_onchain"],
            "canonical": True,
            "applied": True,
        },
        session=session,
    )
    if closing is None and policy.status_detailed in TERMINAL:
        target = await _status_before_chain_close(lstore, ObjectId(policy.id), policy.status_detailed, session)
        changes = {**_STATUS_FIELDS_CLEARED, "status_onchain": 0}
        await policies.transition(policy, target, Cause.REORG, changes=changes, details=details, session=session)
        log.warning("policy %s reopened to %s: its policy-status-updated was orphaned", policy.id, target.value)
        return target
    return None


async def _fail_orphaned_creation(
    policies: PolicyRepository,
    pending: PolicyRecord,
    details: Document,
    session: AsyncClientSession,
) -> S:
    """PendingCreation → FailedCreation for a policy with no quote of ours behind it (inserted from its
    `policy-created`, so no `quote_expiry_height`): neither the quote-expiry job nor the creation monitor would ever
    end that pending creation. The verdict is the listener's (Cause.JOB, as for a lapsed quote); a re-mined creation
    makes it Active again (FailedCreation → Active by the chain). There is no reservation to release: only our
    own quotes reserve collateral, and the tiers are re-derived from the remaining vault events by the caller."""
    reason = f"creation block orphaned: {details['why']}; no quote of ours to wait on"
    await policies.transition(
        pending,
        S.FailedCreation,
        Cause.JOB,
        changes={"failure_reason": reason},
        details={**details, "reason": reason, "tx_id": pending.tx_id_creation},
        session=session,
    )
    log.warning("policy %s FailedCreation: %s", pending.id, reason)
    return S.FailedCreation


async def rederive_tier(lstore: ListenerStore, tier: str, session: AsyncClientSession) -> None:
    """Restore the tier mirror to the snapshot of its newest remaining applied vault event."""
    last = await lstore.events.find_one(
        {"tier": tier, "canonical": True, "applied": True, "tier_after": {"$ne": None}},
        sort=REVERSE_CHAIN_ORDER,
        session=session,
    )
    state = dict(last["tier_after"]) if last else dict(EMPTY_TIER)
    await lstore.db.tiers.update_one(
        {"_id": tier},
        {"$set": {**state, "last_event": position_doc(last) if last else None, "updated_at": now_utc()}},
        upsert=True,
        session=session,
    )
