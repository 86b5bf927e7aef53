"""The worker's side of the backend transaction queue (see `queue.py` for the guarantees): sign, send and follow
each active transaction, one step per run, under the `backend-txs` lease. One process sends, so there is one nonce
sequence."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from services.backend_txs.balance import BalanceWatch
from services.backend_txs.config import UPDATE_STATUS, BackendTxSettings, post_conditions, status_args
from services.backend_txs.fees import FeeBumps
from services.backend_txs.outcomes import BackendTxOutcomes
from services.backend_txs.refusals import Refusals
from services.backend_txs.rejections import handling_for
from services.backend_txs.writes import FencedWrites, Superseded
from services.chain.api_client import StacksApiClient
from services.chain.backend_tx import sign_and_broadcast_contract_call
from services.chain.errors import BroadcastRejected, ChainError, ChainNotFound, StacksApiUnavailable
from services.chain.monitor import classify
from services.chain.nonces import NonceManager
from services.chain.signer import BackendSigner
from services.chain.transactions import PostConditionMode, StacksTransaction
from services.chain.verdict import describe_failure
from services.core.clock import now_utc
from services.core.fencing import Fence, Unfenced
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)


class BackendTxSender:
    name = "backend-txs"

    def __init__(
        self,
        chain: StacksApiClient,
        signer: BackendSigner,
        store: MongoStore,
        outcomes: BackendTxOutcomes,
        registry_contract_id: str,
        vault_contract_id: str,
        settings: BackendTxSettings | None = None,
    ) -> None:
        self._chain = chain
        self._signer = signer
        self._registry = registry_contract_id
        self._vault = vault_contract_id
        self.settings = settings or BackendTxSettings()
        self._nonces = NonceManager(chain, signer.address)
        self._writes = FencedWrites(store, outcomes)
        self._refusals = Refusals(self._writes, self.settings)
        self._fees = FeeBumps(
            chain, signer, self._writes, self._refusals, registry_contract_id, vault_contract_id, self.settings
        )
        self._balance = BalanceWatch(chain, signer.address, self.settings.low_balance_ustx)

    async def run_once(self, fence: Fence) -> int:
        """The worker's singleton job (one process sends, so one nonce sequence): see `process_once`."""
        return await self.process_once(fence)

    async def process_once(self, fence: Fence | None = None) -> int:
        """Advance every active transaction one step; returns how many were looked at. `fence` (the worker's
        lease) guards the write that precedes every broadcast, so a process that lost the lease sends nothing."""
        self._writes.fence = fence or Unfenced()
        await self._balance.check()
        docs = await self._writes.txs.due(now_utc())
        for doc in docs:
            try:
                await self._step(doc)
            except Superseded:
                log.warning("backend tx moved by another writer; skipped", extra={"policy_id": doc["policy_id"]})
        return len(docs)

    async def _step(self, doc: Document) -> None:
        try:
            if doc["status"] == "queued":
                await self._send(doc)
            elif doc["status"] in ("signed", "broadcast"):
                await self._follow(doc)
        except (StacksApiUnavailable, ChainError) as exc:
            await self._refusals.transient(doc, f"{type(exc).__name__}: {exc}")

    async def _send(self, doc: Document) -> None:
        async def claim(nonce: int) -> None:
            # Proves the lease once the nonce is known and before anything is signed.
            await self._writes.set(doc, {"claimed_at": now_utc(), "claimed_nonce": nonce})

        async def record(tx: StacksTransaction) -> None:
            # Stored before the bytes leave: a crash from here on re-sends exactly this transaction.
            await self._writes.set(
                doc,
                {
                    "status": "signed",
                    "txid": tx.txid(),
                    "nonce": tx.nonce,
                    "fee": tx.fee,
                    "raw_tx": tx.serialize_hex(),
                    "signed_at": now_utc(),
                    "replaced_txids": [],  # a new nonce: nothing of this attempt was signed at it before
                },
            )

        # a fee the node asked for (FeeTooLow) is the floor of every later signing of this transaction
        policy = self.settings.fee
        fee_policy = replace(policy, minimum=max(policy.minimum, int(doc.get("min_fee") or 0)))
        try:
            result = await sign_and_broadcast_contract_call(
                self._chain,
                self._signer,
                self._nonces,
                contract_id=self._registry,
                function_name=UPDATE_STATUS,
                function_args=status_args(doc),
                fee_policy=fee_policy,
                post_conditions=post_conditions(doc, self._vault),
                post_condition_mode=PostConditionMode.DENY,
                before_signing=claim,
                on_signed=record,
                on_rejected=lambda exc: self._refusals.record(doc, exc, handling_for(exc.reason)),
            )
        except BroadcastRejected as exc:
            await self._refusals.rejected_send(doc, exc)
            return
        await self._writes.set(
            doc,
            {
                "status": "broadcast",
                "txid": result.txid,
                "broadcast_at": now_utc(),
                "broadcasts": doc.get("broadcasts", 0) + 1,
            },
            unset=("alert",),
        )
        log.info(
            "backend tx broadcast",
            extra={"policy_id": doc["policy_id"], "action": doc["action"], "txid": result.txid, "nonce": result.nonce},
        )

    async def _follow(self, doc: Document) -> None:
        txid = doc["txid"]
        try:
            info = await self._chain.get_transaction(txid)
        except ChainNotFound:
            await self._fees.resend(doc, "the API does not know the transaction")
            return
        outcome = classify(info)
        if outcome.state == "success":
            await self._writes.finish(doc, "success", None)
            log.info(
                "backend tx confirmed",
                extra={
                    "policy_id": doc["policy_id"],
                    "action": doc["action"],
                    "txid": txid,
                    "block_height": outcome.block_height,
                },
            )
        elif outcome.state == "failed" and (outcome.tx_status or "").startswith("dropped_"):
            await self._fees.resend(doc, outcome.tx_status or "dropped")
        elif outcome.state == "failed":
            reason, _ = describe_failure(outcome.tx_status or "failed", outcome.result, info.raw.get("vm_error"))
            await self._writes.fail(doc, reason)
        else:
            sent = doc.get("broadcast_at") or doc.get("signed_at") or now_utc()
            if now_utc() - sent > timedelta(seconds=self.settings.rebroadcast_after_s):
                await self._fees.resend(doc, "still pending")
