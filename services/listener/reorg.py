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

from pymongo.asynchronous.client_session import AsyncClientSession

from services.chain import ChainNotFound, StacksApiClient, StacksTip
from services.core.fencing import Fence
from services.core.models import PolicyRecord
from services.core.status import TERMINAL, Cause, StatusDetailed, is_allowed
from services.liquidity.service import LiquidityService
from services.listener.chunk import EMPTY_TIER
from services.store.chain_events import ChainEventRepository, position_doc
from services.store.chain_state import ChainStateRepository
from services.store.mongo import Document, MongoStore
from services.store.policies import PolicyRepository
from services.store.tiers import TierRepository

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


class Reorgs:
    """Finds the orphaned blocks near the tip and re-derives what their events had changed."""

    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        events: ChainEventRepository,
        state: ChainStateRepository,
        policies: PolicyRepository,
        liquidity: LiquidityService,
        window: int,
    ) -> None:
        self._mongo = mongo
        self._client = client
        self._events = events
        self._state = state
        self._policies = policies
        self._liquidity = liquidity
        self._tiers = TierRepository(mongo)
        self._window = window

    async def check(self, fence: Fence, tip: StacksTip) -> OrphanReport:
        """Re-check the blocks holding our events within the window below ``tip``; orphan the ones gone."""
        blocks = await self._events.recent_blocks(max(0, tip.block_height - self._window))
        gone = await orphaned_blocks(self._client, blocks)
        if not gone:
            return OrphanReport()
        return await self.orphan(fence, f"reorg at height {min(h for h, _ in gone)}", block_hashes=[h for _, h in gone])

    async def orphan(
        self,
        fence: Fence,
        why: str,
        *,
        block_hashes: list[str] | None = None,
        not_chain_marker: str | None = None,
    ) -> OrphanReport:
        """Mark the canonical events of these blocks (or of every other chain than ``not_chain_marker``) orphaned
        and re-derive what they had changed, atomically."""

        async def work(session: AsyncClientSession) -> OrphanReport:
            report = OrphanReport()
            await fence.fence(session)
            docs = await self._events.canonical_events(
                session, block_hashes=block_hashes, not_chain_marker=not_chain_marker
            )
            if not docs:
                return report
            report.events = len(docs)
            report.blocks = sorted({str(d["block_hash"]) for d in docs})
            affected: set[str] = set()
            tiers: set[str] = set()
            for doc in docs:
                policy: PolicyRecord | None = None
                if doc.get("event") == "policy-created" and doc.get("quote_id"):
                    policy = await self._policies.get_by_quote_id(doc["quote_id"], session)
                elif doc.get("event") == "policy-status-updated" and doc.get("policy_id_onchain") is not None:
                    policy = await self._policies.get_by_onchain_id(doc["policy_id_onchain"], session)
                if policy is not None:
                    affected.add(policy.id)
                if doc.get("tier") and doc.get("applied"):
                    tiers.add(str(doc["tier"]))
            keys = [d["_id"] for d in docs]
            await self._events.mark_orphaned(keys, session)
            details = {"why": why, "blocks": report.blocks, "events": keys[:50]}
            for policy_id in sorted(affected):
                # re-read inside the transaction: an earlier re-derivation in this loop may have moved it
                current = await self._policies.get(policy_id, session)
                if current is None:
                    continue
                target = await self._rederive_policy(current, details, session)
                if target is not None:
                    report.policies[policy_id] = target.value
            for tier in sorted(tiers):
                await self._rederive_tier(tier, session)
                report.tiers.append(tier)
            await self._state.set_cursor({"applied_through": await self._events.newest_applied(session)}, session)
            lowest = min(int(d["block_height"]) for d in docs)
            synced = (await self._state.load_cursor(session)).get("synced_height")
            if synced is not None and synced >= lowest:
                await self._state.set_cursor({"synced_height": lowest - 1}, session)
            return report

        report = await self._mongo.transaction(work)
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

    async def _status_before_chain_close(self, policy_id: str, status: S, session: AsyncClientSession) -> S:
        """The status the audit trail shows before the policy reached ``status`` from the chain (or
        reconciliation)."""
        previous = await self._policies.last_chain_transition(policy_id, status, session)
        if previous is not None and is_allowed(status, previous, Cause.REORG):
            return previous
        return S.Active

    async def _rederive_policy(self, policy: PolicyRecord, details: Document, session: AsyncClientSession) -> S | None:
        """Bring one policy in line with its remaining canonical, applied events; the new status, or None if
        none."""
        creation = None
        if policy.quote_id:
            creation = await self._events.applied_creation(policy.quote_id, session)
        if creation is None:
            if policy.status_detailed in (S.PendingCreation, S.FailedCreation):
                return None
            changes = {**_CREATION_FIELDS_CLEARED, **_STATUS_FIELDS_CLEARED}
            pending = await self._policies.transition(
                policy, S.PendingCreation, Cause.REORG, changes=changes, details=details, session=session
            )
            if policy.quote_id:
                await self._liquidity.reopen(policy.quote_id, "reorg: policy-created orphaned", session)
            if pending.quote_expiry_height is None:
                return await _fail_orphaned_creation(self._policies, pending, details, session)
            log.warning("policy %s back to PendingCreation: its policy-created was orphaned", policy.id)
            return S.PendingCreation
        closing = await self._events.applied_closing(creation["policy_id_onchain"], session)
        if closing is None and policy.status_detailed in TERMINAL:
            target = await self._status_before_chain_close(policy.id, policy.status_detailed, session)
            changes = {**_STATUS_FIELDS_CLEARED, "status_onchain": 0}
            await self._policies.transition(
                policy, target, Cause.REORG, changes=changes, details=details, session=session
            )
            log.warning("policy %s reopened to %s: its policy-status-updated was orphaned", policy.id, target.value)
            return target
        return None

    async def _rederive_tier(self, tier: str, session: AsyncClientSession) -> None:
        """Restore the tier mirror to the snapshot of its newest remaining applied vault event."""
        last = await self._events.last_tier_event(tier, session)
        totals = dict(last["tier_after"]) if last else dict(EMPTY_TIER)
        await self._tiers.set_snapshot(tier, totals, position_doc(last) if last else None, session)


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
