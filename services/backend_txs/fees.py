"""Re-sending a transaction the node lost or dropped, and replacing it at the same nonce with a higher fee."""

from __future__ import annotations

import logging

from services.backend_txs.config import UPDATE_STATUS, BackendTxSettings, post_conditions, status_args
from services.backend_txs.refusals import Refusals
from services.backend_txs.rejections import Action, Handling, handling_for
from services.backend_txs.writes import FencedWrites
from services.chain.api_client import StacksApiClient
from services.chain.errors import BadNonce, BroadcastRejected, ChainNotFound, FeeTooLow
from services.chain.signer import BackendSigner
from services.chain.transactions import PostConditionMode, deserialize_transaction, make_contract_call
from services.core.clock import now_utc
from services.store.backend_txs import Append
from services.store.mongo import Document

log = logging.getLogger(__name__)


class FeeBumps:
    def __init__(
        self,
        chain: StacksApiClient,
        signer: BackendSigner,
        writes: FencedWrites,
        refusals: Refusals,
        registry_contract_id: str,
        vault_contract_id: str,
        settings: BackendTxSettings,
    ) -> None:
        self._chain = chain
        self._signer = signer
        self._writes = writes
        self._refusals = refusals
        self._registry = registry_contract_id
        self._vault = vault_contract_id
        self._settings = settings

    async def resend(self, doc: Document, why: str) -> None:
        """Send the recorded bytes again; if the node refuses them, replace them at the same nonce."""
        await self._writes.set(doc, {"resent_at": now_utc()})  # proves the lease before the bytes go out again
        raw = bytes.fromhex(doc["raw_tx"])
        try:
            await self._chain.broadcast_transaction(raw)
        except BadNonce as exc:
            # The nonce was consumed. If by this very transaction, or by one it replaced (a replacement does not
            # reach every miner), the API reports it: follow that one. If by none of them, this attempt never
            # made it and is sent afresh with a new nonce.
            await self._refusals.record(doc, exc, handling_for(exc.reason))
            for txid in txids_at_nonce(doc):
                try:
                    info = await self._chain.get_transaction(txid)
                except ChainNotFound:
                    continue
                if not info.tx_status.startswith("dropped_"):  # pending or mined: the nonce went to it
                    if txid != doc["txid"]:
                        await self._writes.set(doc, {"txid": txid, "status": "broadcast", "followed_replaced": True})
                    return
            await self._writes.set(doc, {"status": "queued", "requeued_because": why})
            return
        except BroadcastRejected as exc:
            handling = handling_for(exc.reason)
            if exc.reason == "ConflictingNonceInMempool":
                # a transaction of ours holds the nonce and pays as much: replace it with a higher fee
                handling = Handling(Action.BUMP_FEE, False, handling.meaning)
            await self._refusals.record(doc, exc, handling)
            if handling.action is Action.STOP:
                await self._refusals.stop(doc, exc, handling)
            elif handling.action is Action.WAIT:
                await self._refusals.transient(doc, f"re-send refused: {exc.detail}")
            else:
                await self.replace(doc, raw, f"{why}; re-send refused ({exc.reason})", exc)
            return
        await self._writes.set(
            doc,
            {"status": "broadcast", "broadcast_at": now_utc(), "broadcasts": doc.get("broadcasts", 0) + 1},
            unset=("alert",),
        )
        log.warning("backend tx re-sent (%s)", why, extra={"policy_id": doc["policy_id"], "txid": doc["txid"]})

    async def replace(self, doc: Document, raw: bytes, why: str, refusal: BroadcastRejected | None = None) -> None:
        """Re-sign at the same nonce with a higher fee: half again as much, at least what the node asked for."""
        old = deserialize_transaction(raw)
        wanted = max(old.fee * 3 // 2, old.fee + 1)
        if isinstance(refusal, FeeTooLow) and refusal.expected is not None:
            wanted = max(wanted, refusal.expected)
        cap = self._settings.fee.maximum
        if wanted > cap and old.fee >= cap and refusal is not None:
            # nothing left to bump: the operator must raise the cap (or wait for the mempool to clear)
            await self._refusals.stop(
                doc, refusal, handling_for(refusal.reason), f"needs a fee above the cap of {cap} uSTX"
            )
            return
        fee = min(cap, wanted)
        # a fenced write before signing, as for a first signing: a worker whose lease was taken signs nothing
        await self._writes.set(doc, {"replacing_at": now_utc()})
        address, name = self._registry.split(".", 1)
        tx = make_contract_call(
            contract_address=address,
            contract_name=name,
            function_name=UPDATE_STATUS,
            function_args=status_args(doc),
            signer=self._signer,
            nonce=old.nonce,
            fee=fee,
            network=self._signer.network,
            post_condition_mode=PostConditionMode.DENY,
            post_conditions=post_conditions(doc, self._vault),
        )
        await self._writes.set(
            doc,
            {
                "status": "signed",
                "txid": tx.txid(),
                "fee": fee,
                "raw_tx": tx.serialize_hex(),
                "signed_at": now_utc(),
                "replaced_txid": doc["txid"],
            },
            append=Append("replaced_txids", doc["txid"]),  # at most ~16: each pays half again, up to the cap
        )
        try:
            await self._chain.broadcast_transaction(tx.serialize())
        except BroadcastRejected as exc:
            # still recorded as signed: the next step follows it, finds it unknown and re-sends or bumps again
            await self._refusals.record(doc, exc, handling_for(exc.reason))
            await self._refusals.transient(doc, f"replacement refused: {exc.detail}")
            return
        await self._writes.set(doc, {"status": "broadcast", "broadcast_at": now_utc()}, unset=("alert",))
        log.warning(
            "backend tx replaced at nonce %d (%s)",
            old.nonce,
            why,
            extra={"policy_id": doc["policy_id"], "txid": tx.txid(), "replaced_txid": doc["txid"]},
        )


def txids_at_nonce(doc: Document) -> list[str]:
    """The transactions of this attempt the node may have taken: the current one, then those it replaced at its
    nonce, latest first (`replaced_txid` alone on documents written before the list existed)."""
    earlier = [*reversed(doc.get("replaced_txids") or []), doc.get("replaced_txid")]
    return list(dict.fromkeys(t for t in [doc["txid"], *earlier] if t))
