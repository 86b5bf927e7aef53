"""Following creation transactions to a final status, and failing quotes that lapse with no transaction.

:func:`services.chain.verdict.classify_txid` reads a transaction once and says pending / success / failed /
not-found, with the decoded failure reason (``abort_by_response: u106 quote-expired``). The two jobs use it for
policies in PendingCreation:

- :class:`CreationTxMonitor`: a creation tx that aborted or was dropped makes its policy FailedCreation
  (Cause.MONITOR) with the reason, and releases the quote's reservation, in one fenced transaction. A tx that
  is still unknown or pending once the burn tip is past the quote's expiry (plus the confirmations) can never
  succeed any more (the registry refuses expired quotes): the policy fails the same way.
- :class:`QuoteExpiryJob`: a PendingCreation policy with no transaction reported whose quote expired (burn tip
  past ``quote_expiry_height`` + confirmations) and is not used on chain (``is-quote-used``) fails with Cause.JOB.

A success needs nothing here: the listener applies its `policy-created` once confirmed.
"""

from __future__ import annotations

import logging

from services.chain import (
    ChainError,
    StacksApiClient,
    buff_cv,
    to_python,
)
from services.chain.verdict import classify_txid
from services.core.fencing import Fence
from services.core.status import Cause
from services.liquidity.service import LiquidityService
from services.policies.creation_failures import fail_creation
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)


class CreationTxMonitor:
    """Singleton job: follow the creation txs of PendingCreation policies."""

    name = "creation-monitor"

    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        confirmations: int,
        policies: PolicyRepository | None = None,
        liquidity: LiquidityService | None = None,
    ) -> None:
        self.mongo = mongo
        self.client = client
        self.confirmations = confirmations
        self.policies = policies or PolicyRepository(mongo)
        self.liquidity = liquidity or LiquidityService(mongo)
        self.metrics: dict[str, int] = {"checked": 0, "failed": 0}

    async def run_once(self, fence: Fence) -> int:
        burn_tip = (await self.client.get_tip()).burn_block_height
        failed = 0
        for policy in await self.policies.pending_creations_with_tx():
            txid = str(policy.tx_id_creation)
            try:
                verdict = await classify_txid(self.client, txid)
            except (ChainError, ValueError) as exc:
                log.warning("creation tx %s of policy %s: %s", txid, policy.id, exc)
                continue
            self.metrics["checked"] += 1
            reason: str | None = None
            if verdict.state == "failed":
                reason = verdict.reason
            elif verdict.state in ("pending", "not-found"):
                expiry = policy.quote_expiry_height
                if isinstance(expiry, int) and burn_tip > expiry + self.confirmations:
                    reason = f"quote expired at burn height {expiry} before tx {txid} was mined ({verdict.state})"
            if reason is not None:
                details = {"tx_id": txid, "tx_status": verdict.tx_status, "burn_tip": burn_tip}
                if await fail_creation(
                    self.mongo, self.policies, self.liquidity, fence, policy.id, Cause.MONITOR, reason, details
                ):
                    failed += 1
        self.metrics["failed"] += failed
        return failed


class QuoteExpiryJob:
    """Singleton job: fail PendingCreation policies whose quote lapsed with no transaction seen."""

    name = "quote-expiry"

    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        registry_contract_id: str,
        confirmations: int,
        policies: PolicyRepository | None = None,
        liquidity: LiquidityService | None = None,
    ) -> None:
        self.mongo = mongo
        self.client = client
        self.registry = registry_contract_id
        self.confirmations = confirmations
        self.policies = policies or PolicyRepository(mongo)
        self.liquidity = liquidity or LiquidityService(mongo)
        self.metrics: dict[str, int] = {"expired": 0}

    async def run_once(self, fence: Fence) -> int:
        burn_tip = (await self.client.get_tip()).burn_block_height
        expired = 0
        for policy in await self.policies.lapsed_pending_creations(burn_tip - self.confirmations):
            if policy.quote_id is not None and await self._quote_used(policy.quote_id):
                continue  # a transaction used it after all: the listener will apply its policy-created
            reason = f"quote expired at burn height {policy.quote_expiry_height} with no transaction"
            if await fail_creation(
                self.mongo, self.policies, self.liquidity, fence, policy.id, Cause.JOB, reason, {"burn_tip": burn_tip}
            ):
                expired += 1
        self.metrics["expired"] += expired
        return expired

    async def _quote_used(self, quote_id: str) -> bool:
        result = await self.client.call_read_only(
            self.registry, "is-quote-used", [buff_cv(bytes.fromhex(quote_id))], sender=self.registry.split(".")[0]
        )
        return bool(to_python(result))
