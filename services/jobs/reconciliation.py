"""Reconciliation: compare each non-terminal policy that has an on-chain id with ``get-policy`` and repair drift.

Drift is a chain status (1 Settled / 2 Expired) that the policy does not show yet although the change is
confirmed (``status-height + CHAIN_CONFIRMATIONS <= burn tip``: a younger change is the listener's to apply, not
drift), and the listener has not stored an event for that policy that it has yet to apply (a listener that fell
behind, or whose holder died mid-chunk, applies it itself once it resumes: repairing it first would record the same
change as `reconcile` instead of `chain`, and the history would depend on timing; such policies count as
``deferred``). The repair is a status transition with Cause.RECONCILE (the status machine allows it wherever it
allows the chain), carrying the settlement fields ``get-policy`` returns, recorded in `policy_events`, fenced by the
job's lease, and logged one line per repair. A policy the chain does not know (its creation was orphaned and not
yet re-derived) is reported, not repaired: reorgs are the listener's. Counters go to ``metrics`` and to
``chain_state {_id: "reconciliation"}`` (shown by ``chainStatus``).
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from services.chain import ChainError, StacksApiClient, to_python, uint_cv
from services.core.clock import now_utc
from services.core.errors import Conflict
from services.core.fencing import Fence
from services.core.status import Cause, OnChainStatus, StatusDetailed, is_allowed
from services.store.chain_events import ChainEventRepository
from services.store.chain_state import ChainStateRepository
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)

REPAIRED, DEFERRED = "repaired", "deferred"


class Reconciler:
    name = "reconciliation"  # the job's lease

    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        registry_contract_id: str,
        confirmations: int,
        policies: PolicyRepository | None = None,
    ) -> None:
        self.mongo = mongo
        self.client = client
        self.registry = registry_contract_id
        self.confirmations = confirmations
        self.policies = policies or PolicyRepository(mongo)
        self.events = ChainEventRepository(mongo)
        self.state = ChainStateRepository(mongo)
        self.metrics: dict[str, int] = {
            "runs": 0,
            "checked": 0,
            "repairs": 0,
            "deferred": 0,
            "missing_on_chain": 0,
            "errors": 0,
        }

    async def run_once(self, fence: Fence) -> int:
        burn_tip = (await self.client.get_tip()).burn_block_height
        repairs = deferred = checked = missing = errors = 0
        for policy_id, onchain_id in await self.policies.open_onchain_ids():
            try:
                chain = to_python(
                    await self.client.call_read_only(
                        self.registry, "get-policy", [uint_cv(onchain_id)], sender=self.registry.split(".")[0]
                    )
                )
            except ChainError as exc:
                errors += 1
                log.warning("reconciliation: get-policy %d failed: %s", onchain_id, exc)
                continue
            checked += 1
            if chain is None:
                missing += 1
                log.warning("reconciliation: policy %s (on-chain id %d) is unknown to the chain", policy_id, onchain_id)
                continue
            outcome = await self._repair(fence, policy_id, onchain_id, chain, burn_tip)
            repairs += outcome == REPAIRED
            deferred += outcome == DEFERRED
        self.metrics["runs"] += 1
        self.metrics["checked"] += checked
        self.metrics["repairs"] += repairs
        self.metrics["deferred"] += deferred
        self.metrics["missing_on_chain"] += missing
        self.metrics["errors"] += errors

        async def record_run(session: AsyncClientSession) -> None:
            await fence.fence(session)  # a run that lost its lease does not report as the job either
            run = {
                "last_run_at": now_utc(),
                "last_checked": checked,
                "last_repairs": repairs,
                "last_deferred": deferred,
                "last_missing_on_chain": missing,
                "last_errors": errors,
            }
            await self.state.record_reconciliation(run, repairs, session)

        await self.mongo.transaction(record_run)
        return repairs

    async def _repair(
        self, fence: Fence, policy_id: str, onchain_id: int, chain: dict[str, Any], burn_tip: int
    ) -> str | None:
        """REPAIRED, DEFERRED (the listener holds an unapplied event of this policy) or None (nothing to do)."""
        status = int(chain.get("status", -1))
        if status not in (OnChainStatus.SETTLED, OnChainStatus.EXPIRED):
            return None
        status_height = int(chain.get("status-height", 0))
        if status_height + self.confirmations > burn_tip:
            return None  # not confirmed yet: the listener applies it when it is
        target = StatusDetailed.Settled if status == OnChainStatus.SETTLED else StatusDetailed.Expired

        async def work(session: AsyncClientSession) -> str | None:
            await fence.fence(session)
            policy = await self.policies.get(policy_id, session)
            if policy is None:
                return None
            if policy.status_detailed is target or not is_allowed(policy.status_detailed, target, Cause.RECONCILE):
                return None
            if await self.events.has_unapplied(onchain_id, session):
                return DEFERRED
            await self.policies.transition(
                policy,
                target,
                Cause.RECONCILE,
                changes={
                    "status_onchain": status,
                    "settlement_ustx": int(chain.get("settlement-ustx", 0)),
                    "settlement_price_usd8": int(chain.get("settlement-price-usd8", 0)),
                },
                details={
                    "source": "get-policy",
                    "policy_id_onchain": onchain_id,
                    "status_onchain": status,
                    "status_height": status_height,
                    "was": policy.status_detailed.value,
                },
                session=session,
            )
            return policy.status_detailed.value

        try:
            was = await self.mongo.transaction(work)
        except Conflict:
            return None
        if was is None:
            return None
        if was == DEFERRED:
            log.info(
                "reconciliation: policy %s (on-chain id %d) waits for the listener's events", policy_id, onchain_id
            )
            return DEFERRED
        log.warning(
            "reconciliation repaired policy %s (on-chain id %d): %s → %s (chain status %d at burn height %d)",
            policy_id,
            onchain_id,
            was,
            target.value,
            status,
            status_height,
        )
        return REPAIRED
