"""The backend transaction queue (DESIGN §7 "Backend transactions"): `update-policy-status` calls signed with the
backend key, recorded in `backend_txs` before they are sent, followed to a final status.

Guarantees:
- One transaction per (policy, action) at a time: a partial unique index on `{policy_id, action}` over the
  documents still `active` makes a second enqueue impossible while the first can still confirm. A new attempt
  (operator or automatic retry) can only start after the previous one failed for good.
- Nothing is sent unrecorded: the signed bytes, txid and nonce are stored (status `signed`) before the broadcast.
  After a crash, a `signed` or `broadcast` transaction is re-sent byte for byte (same txid, same nonce), never
  re-signed with a new nonce, so it cannot be paid twice; the contract would refuse a second transition anyway.
- A dropped transaction is re-sent as is; if the node refuses the old bytes it is replaced with the same nonce
  and a higher fee (within the cap).
- Every refusal of the node (`POST /v2/transactions` → 400) has a meaning (`rejections.py`): a fresh nonce, a
  higher fee within the cap, a wait, or a stop. Each is recorded on the transaction (`last_rejection`,
  `rejections`, and `alert` while only the operator can end it) and counted in `/metrics`.
- Transient failures (API down, a `wait` refusal such as not enough funds) are retried with backoff up to
  `max_attempts`; a `stop` refusal and an on-chain abort are final for that attempt: the policy moves to
  FailedSettlement / FailedExpiration with the reason, and an operator retry starts a new attempt.
- Only the lease holder acts: every write the worker makes here runs in a transaction that first checks its fence
  (the `backend-txs` lease: same holder, same epoch) and only applies if the transaction is still in the state
  the worker read. Before signing it claims the transaction that way, and the signed bytes are recorded that way
  before they are sent, so a worker whose lease was taken raises `LeaseLost` before it signs or sends anything
  (or, if the lease went between the two, after signing but before the bytes leave, giving the nonce back).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.backend_txs.rejections import Action, Handling, handling_for, recorded_data, recorded_reason
from services.chain.api_client import StacksApiClient
from services.chain.backend_tx import FeePolicy, sign_and_broadcast_contract_call
from services.chain.clarity import ClarityValue, uint_cv
from services.chain.errors import (
    BadNonce,
    BroadcastRejected,
    ChainError,
    ChainNotFound,
    FeeTooLow,
    StacksApiUnavailable,
)
from services.chain.monitor import classify
from services.chain.nonces import NonceManager
from services.chain.signer import BackendSigner
from services.chain.transactions import (
    PostConditionMode,
    StacksTransaction,
    StxPostCondition,
    deserialize_transaction,
    make_contract_call,
)
from services.chain.verdict import describe_failure
from services.core.clock import now_utc
from services.core.errors import Conflict
from services.core.fencing import Fence, Unfenced
from services.core.status import Cause, StatusDetailed
from services.store.mongo import Document, MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)

UPDATE_STATUS = "update-policy-status"
# refusals kept in a transaction's `rejections` history (the latest ones; `rejection_counts` counts every one): a
# transaction the node keeps refusing with a `wait` reason (NotEnoughFunds, ...) would otherwise grow without bound
REJECTIONS_KEPT = 20


class PolicyAction(StrEnum):
    SETTLE = "settle"  # update-policy-status(id, u1, settlement, price)
    EXPIRE = "expire"  # update-policy-status(id, u2, u0, u0)


_FAILED_STATUS = {
    PolicyAction.SETTLE: StatusDetailed.FailedSettlement,
    PolicyAction.EXPIRE: StatusDetailed.FailedExpiration,
}
_IN_FLIGHT_STATUS = {PolicyAction.SETTLE: StatusDetailed.Settling, PolicyAction.EXPIRE: StatusDetailed.Expiring}
_NEW_STATUS = {PolicyAction.SETTLE: 1, PolicyAction.EXPIRE: 2}


class _Superseded(Exception):
    """The transaction is no longer in the state this worker read: another writer moved it; skip it."""


@dataclass(frozen=True)
class BackendTxSettings:
    max_attempts: int = 5  # transient failures of one attempt before it fails for good
    retry_backoff_s: float = 5.0  # doubled after each transient failure
    rebroadcast_after_s: float = 120.0  # a still-pending transaction is re-sent this often
    low_balance_ustx: int = 10_000_000  # warn when the backend principal holds less (10 STX)
    fee: FeePolicy = field(default_factory=FeePolicy)


@dataclass(frozen=True)
class QueuedTx:
    id: str
    policy_id: str
    policy_id_onchain: int
    action: PolicyAction
    attempt: int
    status: str
    txid: str | None
    nonce: int | None

    @classmethod
    def from_doc(cls, doc: Document) -> QueuedTx:
        return cls(
            str(doc["_id"]),
            doc["policy_id"],
            doc["policy_id_onchain"],
            PolicyAction(doc["action"]),
            doc["attempt"],
            doc["status"],
            doc.get("txid"),
            doc.get("nonce"),
        )


class BackendTxQueue:
    def __init__(
        self,
        store: MongoStore,
        policies: PolicyRepository,
        chain: StacksApiClient | None,
        signer: BackendSigner | None,
        registry_contract_id: str,
        vault_contract_id: str,
        settings: BackendTxSettings | None = None,
    ) -> None:
        self._store = store
        self._txs = store.db.backend_txs
        self._policies = policies
        self._chain = chain
        self._signer = signer
        self._registry = registry_contract_id
        self._vault = vault_contract_id
        self.settings = settings or BackendTxSettings()
        self._nonces = NonceManager(chain, signer.address) if chain is not None and signer is not None else None
        self.backend_balance_ustx: int | None = None
        self._fence: Fence = Unfenced()

    # --- enqueue (API request or job, inside their transaction) -------------------------------------------
    async def enqueue(
        self,
        session: AsyncClientSession,
        *,
        policy_id: str,
        policy_id_onchain: int,
        action: PolicyAction,
        settlement_ustx: int = 0,
        settlement_price_usd8: int = 0,
    ) -> QueuedTx:
        previous = await self._txs.find_one(
            {"policy_id": policy_id, "action": action.value}, sort=[("attempt", -1)], session=session
        )
        now = now_utc()
        doc: Document = {
            "_id": ObjectId(),
            "policy_id": policy_id,
            "policy_id_onchain": policy_id_onchain,
            "action": action.value,
            "attempt": (previous["attempt"] + 1) if previous else 1,
            "active": True,
            "status": "queued",
            "new_status": _NEW_STATUS[action],
            "settlement_ustx": settlement_ustx,
            "settlement_price_usd8": settlement_price_usd8,
            "failures": 0,
            "broadcasts": 0,
            "created_at": now,
            "updated_at": now,
            "next_try_at": now,
        }
        try:
            await self._txs.insert_one(doc, session=session)
        except DuplicateKeyError as exc:
            raise Conflict(
                f"a {action.value} transaction for this policy is already in flight", policyId=policy_id
            ) from exc
        if previous is not None:
            # the operator retried: the earlier attempts' alerts have been acted on
            await self._txs.update_many(
                {"policy_id": policy_id, "action": action.value, "alert": {"$exists": True}},
                {"$unset": {"alert": ""}},
                session=session,
            )
        log.info("backend tx queued", extra={"policy_id": policy_id, "action": action.value, "attempt": doc["attempt"]})
        return QueuedTx.from_doc(doc)

    async def for_policy(self, policy_id: str) -> list[QueuedTx]:
        docs = await self._txs.find({"policy_id": policy_id}).sort([("action", 1), ("attempt", 1)]).to_list(None)
        return [QueuedTx.from_doc(d) for d in docs]

    # --- the worker's loop body ------------------------------------------------------------------------
    name = "backend-txs"

    async def run_once(self, fence: Fence) -> int:
        """The worker's singleton job (one process sends, so one nonce sequence): see `process_once`."""
        return await self.process_once(fence)

    async def process_once(self, fence: Fence | None = None) -> int:
        """Advance every active transaction one step; returns how many were looked at. `fence` (the worker's
        lease) guards the write that precedes every broadcast, so a process that lost the lease sends nothing."""
        self._fence = fence or Unfenced()
        if self._chain is None or self._signer is None or self._nonces is None:
            return 0
        await self._check_balance()
        now = now_utc()
        docs = await self._txs.find({"active": True, "next_try_at": {"$lte": now}}).sort("created_at", 1).to_list(None)
        for doc in docs:
            try:
                await self._step(doc)
            except _Superseded:
                log.warning("backend tx moved by another writer; skipped", extra={"policy_id": doc["policy_id"]})
        return len(docs)

    async def _step(self, doc: Document) -> None:
        try:
            if doc["status"] == "queued":
                await self._send(doc)
            elif doc["status"] in ("signed", "broadcast"):
                await self._follow(doc)
        except (StacksApiUnavailable, ChainError) as exc:
            await self._transient(doc, f"{type(exc).__name__}: {exc}")

    async def _send(self, doc: Document) -> None:
        assert self._chain is not None and self._signer is not None and self._nonces is not None

        async def claim(nonce: int) -> None:
            # Proves the lease once the nonce is known and before anything is signed.
            await self._set(doc, {"claimed_at": now_utc(), "claimed_nonce": nonce})

        async def record(tx: StacksTransaction) -> None:
            # Stored before the bytes leave: a crash from here on re-sends exactly this transaction.
            await self._set(
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
                function_args=self._args(doc),
                fee_policy=fee_policy,
                post_conditions=self._post_conditions(doc),
                post_condition_mode=PostConditionMode.DENY,
                before_signing=claim,
                on_signed=record,
                on_rejected=lambda exc: self._record_rejection(doc, exc, handling_for(exc.reason)),
            )
        except BroadcastRejected as exc:
            await self._rejected_send(doc, exc)
            return
        await self._set(
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

    def _post_conditions(self, doc: Document) -> list[StxPostCondition]:
        # Deny mode: the only STX that may move is the settlement, from the vault to the owner.
        amount = int(doc["settlement_ustx"])
        return [StxPostCondition(self._vault, "eq", amount)] if amount else []

    def _args(self, doc: Document) -> list[ClarityValue]:
        return [
            uint_cv(doc["policy_id_onchain"]),
            uint_cv(doc["new_status"]),
            uint_cv(doc["settlement_ustx"]),
            uint_cv(doc["settlement_price_usd8"]),
        ]

    async def _follow(self, doc: Document) -> None:
        assert self._chain is not None
        txid = doc["txid"]
        try:
            info = await self._chain.get_transaction(txid)
        except ChainNotFound:
            await self._resend(doc, "the API does not know the transaction")
            return
        outcome = classify(info)
        if outcome.state == "success":
            await self._finish(doc, "success", None)
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
            await self._resend(doc, outcome.tx_status or "dropped")
        elif outcome.state == "failed":
            reason, _ = describe_failure(outcome.tx_status or "failed", outcome.result, info.raw.get("vm_error"))
            await self._fail(doc, reason)
        else:
            sent = doc.get("broadcast_at") or doc.get("signed_at") or now_utc()
            if now_utc() - sent > timedelta(seconds=self.settings.rebroadcast_after_s):
                await self._resend(doc, "still pending")

    async def _resend(self, doc: Document, why: str) -> None:
        """Send the recorded bytes again; if the node refuses them, replace them at the same nonce."""
        assert self._chain is not None and self._signer is not None
        await self._set(doc, {"resent_at": now_utc()})  # proves the lease before the bytes go out again
        raw = bytes.fromhex(doc["raw_tx"])
        try:
            await self._chain.broadcast_transaction(raw)
        except BadNonce as exc:
            # The nonce was consumed. If by this very transaction, or by one it replaced (a replacement does not
            # reach every miner), the API reports it: follow that one. If by none of them, this attempt never
            # made it and is sent afresh with a new nonce.
            await self._record_rejection(doc, exc, handling_for(exc.reason))
            for txid in self._txids_at_nonce(doc):
                try:
                    info = await self._chain.get_transaction(txid)
                except ChainNotFound:
                    continue
                if not info.tx_status.startswith("dropped_"):  # pending or mined: the nonce went to it
                    if txid != doc["txid"]:
                        await self._set(doc, {"txid": txid, "status": "broadcast", "followed_replaced": True})
                    return
            await self._set(doc, {"status": "queued", "requeued_because": why})
            return
        except BroadcastRejected as exc:
            handling = handling_for(exc.reason)
            if exc.reason == "ConflictingNonceInMempool":
                # a transaction of ours holds the nonce and pays as much: replace it with a higher fee
                handling = Handling(Action.BUMP_FEE, False, handling.meaning)
            await self._record_rejection(doc, exc, handling)
            if handling.action is Action.STOP:
                await self._stop(doc, exc, handling)
            elif handling.action is Action.WAIT:
                await self._transient(doc, f"re-send refused: {exc.detail}")
            else:
                await self._replace(doc, raw, f"{why}; re-send refused ({exc.reason})", exc)
            return
        await self._set(
            doc,
            {"status": "broadcast", "broadcast_at": now_utc(), "broadcasts": doc.get("broadcasts", 0) + 1},
            unset=("alert",),
        )
        log.warning("backend tx re-sent (%s)", why, extra={"policy_id": doc["policy_id"], "txid": doc["txid"]})

    async def _replace(self, doc: Document, raw: bytes, why: str, refusal: BroadcastRejected | None = None) -> None:
        """Re-sign at the same nonce with a higher fee: half again as much, at least what the node asked for."""
        assert self._chain is not None and self._signer is not None
        old = deserialize_transaction(raw)
        wanted = max(old.fee * 3 // 2, old.fee + 1)
        if isinstance(refusal, FeeTooLow) and refusal.expected is not None:
            wanted = max(wanted, refusal.expected)
        cap = self.settings.fee.maximum
        if wanted > cap and old.fee >= cap and refusal is not None:
            # nothing left to bump: the operator must raise the cap (or wait for the mempool to clear)
            await self._stop(doc, refusal, handling_for(refusal.reason), f"needs a fee above the cap of {cap} uSTX")
            return
        fee = min(cap, wanted)
        # a fenced write before signing, as for a first signing: a worker whose lease was taken signs nothing
        await self._set(doc, {"replacing_at": now_utc()})
        address, name = self._registry.split(".", 1)
        tx = make_contract_call(
            contract_address=address,
            contract_name=name,
            function_name=UPDATE_STATUS,
            function_args=self._args(doc),
            signer=self._signer,
            nonce=old.nonce,
            fee=fee,
            network=self._signer.network,
            post_condition_mode=PostConditionMode.DENY,
            post_conditions=self._post_conditions(doc),
        )
        await self._set(
            doc,
            {
                "status": "signed",
                "txid": tx.txid(),
                "fee": fee,
                "raw_tx": tx.serialize_hex(),
                "signed_at": now_utc(),
                "replaced_txid": doc["txid"],
            },
            push={"replaced_txids": doc["txid"]},  # at most ~16: each replacement pays half again, up to the cap
        )
        try:
            await self._chain.broadcast_transaction(tx.serialize())
        except BroadcastRejected as exc:
            # still recorded as signed: the next step follows it, finds it unknown and re-sends or bumps again
            await self._record_rejection(doc, exc, handling_for(exc.reason))
            await self._transient(doc, f"replacement refused: {exc.detail}")
            return
        await self._set(doc, {"status": "broadcast", "broadcast_at": now_utc()}, unset=("alert",))
        log.warning(
            "backend tx replaced at nonce %d (%s)",
            old.nonce,
            why,
            extra={"policy_id": doc["policy_id"], "txid": tx.txid(), "replaced_txid": doc["txid"]},
        )

    @staticmethod
    def _txids_at_nonce(doc: Document) -> list[str]:
        """The transactions of this attempt the node may have taken: the current one, then those it replaced at
        its nonce, latest first (`replaced_txid` alone on documents written before the list existed)."""
        earlier = [*reversed(doc.get("replaced_txids") or []), doc.get("replaced_txid")]
        return list(dict.fromkeys(t for t in [doc["txid"], *earlier] if t))

    async def _rejected_send(self, doc: Document, exc: BroadcastRejected) -> None:
        """A first broadcast the node refused: act on the reason. The node did not take the bytes and their nonce
        was given back, so the recorded transaction is void: the attempt is queued again, to be signed afresh."""
        handling = handling_for(exc.reason)
        await self._record_rejection(doc, exc, handling)
        if doc.get("status") == "signed":
            void = {"status": "queued", "txid": None, "raw_tx": None, "nonce": None, "refused_txid": doc.get("txid")}
            await self._set(doc, void)
        if handling.action is Action.STOP:
            await self._stop(doc, exc, handling)
        elif handling.action is Action.BUMP_FEE and isinstance(exc, FeeTooLow) and exc.expected is not None:
            cap = self.settings.fee.maximum
            if exc.expected > cap:
                await self._stop(doc, exc, handling, f"the node's minimum fee is above the cap of {cap} uSTX")
                return
            # signed again at once, at least at the node's minimum; a try of the attempt all the same, so a node
            # that keeps asking for more (within the cap) ends the attempt instead of being followed forever
            failures = doc.get("failures", 0) + 1
            if failures >= self.settings.max_attempts:
                await self._fail(doc, f"gave up after {failures} tries: broadcast rejected: {exc.detail}")
                return
            await self._set(doc, {"min_fee": exc.expected, "failures": failures, "next_try_at": now_utc()})
        else:
            # fresh_nonce (sign_and_broadcast already resynced and retried) and wait: later, with backoff
            await self._transient(doc, f"broadcast rejected: {exc.detail}")

    async def _record_rejection(self, doc: Document, exc: BroadcastRejected, handling: Handling) -> None:
        """The node's refusal on the transaction: the last one, the history, and an alert if it needs the operator."""
        reason, detail = recorded_reason(exc.reason), exc.detail[:500]
        entry = {
            "reason": reason,
            "action": handling.action.value,
            "detail": detail,
            "reason_data": recorded_data(exc.reason_data),
            "txid": str(exc.txid)[:80] if exc.txid is not None else None,
            "at": now_utc(),
        }
        changes: dict[str, Any] = {"last_rejection": entry}
        if handling.alert:
            changes["alert"] = {"reason": reason, "detail": detail, "meaning": handling.meaning}
        # the history keeps the latest refusals; the counts (what /metrics reports) keep every one
        history = {"rejections": {"$each": [entry], "$slice": -REJECTIONS_KEPT}}
        await self._set(doc, changes, push=history, inc={f"rejection_counts.{reason}.{entry['action']}": 1})
        level = logging.ERROR if handling.alert else logging.WARNING
        log.log(
            level,
            "backend tx refused by the node: %s (%s: %s)",
            exc.detail,
            handling.action.value,
            handling.meaning,
            extra={"policy_id": doc["policy_id"], "action": doc["action"], "reason": exc.reason},
        )

    async def _stop(self, doc: Document, exc: BroadcastRejected, handling: Handling, why: str | None = None) -> None:
        reason = f"refused by the node: {exc.detail[:500]}" + (f"; {why}" if why else "") + f" ({handling.meaning})"
        await self._fail(doc, reason, {"stopped_by": recorded_reason(exc.reason)})

    async def _transient(self, doc: Document, error: str) -> None:
        failures = doc.get("failures", 0) + 1
        if failures >= self.settings.max_attempts and doc["status"] == "queued":
            await self._fail(doc, f"gave up after {failures} tries: {error}")
            return
        delay = self.settings.retry_backoff_s * 2 ** min(failures - 1, 6)
        await self._set(
            doc, {"failures": failures, "last_error": error, "next_try_at": now_utc() + timedelta(seconds=delay)}
        )
        log.warning(
            "backend tx step failed (%s); retry in %.0fs",
            error,
            delay,
            extra={"policy_id": doc["policy_id"], "action": doc["action"]},
        )

    async def _fail(self, doc: Document, reason: str, extra: Document | None = None) -> None:
        action = PolicyAction(doc["action"])

        async def work(session: AsyncClientSession) -> None:
            await self._finish(doc, "failed", reason, session, extra)
            policy = await self._policies.get(doc["policy_id"])
            if policy is not None and policy.status_detailed is _IN_FLIGHT_STATUS[action]:
                await self._policies.transition(
                    policy,
                    _FAILED_STATUS[action],
                    Cause.MONITOR,
                    changes={"failure_reason": reason},
                    details={"txid": doc.get("txid"), "reason": reason},
                    session=session,
                )

        await self._store.transaction(work)
        log.error(
            "backend tx failed: %s",
            reason,
            extra={"policy_id": doc["policy_id"], "action": doc["action"], "txid": doc.get("txid")},
        )

    async def _finish(
        self,
        doc: Document,
        status: str,
        reason: str | None,
        session: AsyncClientSession | None = None,
        extra: Document | None = None,
    ) -> None:
        # a success ends any alert; a failure keeps it until the operator retries (enqueue clears it)
        unset = {"active": ""} | ({"alert": ""} if status == "success" else {})

        async def work(session: AsyncClientSession) -> None:
            await self._fence.fence(session)
            result = await self._txs.update_one(
                self._unchanged(doc),
                {
                    "$set": {
                        "status": status,
                        "failure_reason": reason,
                        "updated_at": now_utc(),
                        "finished_at": now_utc(),
                        **(extra or {}),
                    },
                    "$unset": unset,
                },
                session=session,
            )
            if result.matched_count != 1:
                raise _Superseded(doc["_id"])

        await (work(session) if session is not None else self._store.transaction(work))

    async def _set(
        self,
        doc: Document,
        changes: dict[str, Any],
        *,
        push: dict[str, Any] | None = None,
        inc: dict[str, int] | None = None,
        unset: tuple[str, ...] = (),
    ) -> None:
        """One fenced, conditional write: the lease is still this worker's and the transaction is as it read it."""
        changes["updated_at"] = now_utc()
        update: Document = {"$set": changes}
        if push:
            update["$push"] = push
        if inc:
            update["$inc"] = inc
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")

        async def work(session: AsyncClientSession) -> Document | None:
            await self._fence.fence(session)
            return await self._txs.find_one_and_update(
                self._unchanged(doc), update, return_document=ReturnDocument.AFTER, session=session
            )

        updated = await self._store.transaction(work)
        if updated is None:
            raise _Superseded(doc["_id"])
        doc.update(updated)

    @staticmethod
    def _unchanged(doc: Document) -> Document:
        # status and txid name every step of a transaction's life: if both are as read, no other writer moved it
        return {"_id": doc["_id"], "active": True, "status": doc["status"], "txid": doc.get("txid")}

    async def _check_balance(self) -> None:
        assert self._chain is not None and self._signer is not None
        try:
            account = await self._chain.get_account(self._signer.address)
        except ChainError:
            return
        self.backend_balance_ustx = account.balance
        if account.balance < self.settings.low_balance_ustx:
            log.warning(
                "the backend principal %s holds %d uSTX, below %d: fund it or status updates will fail",
                self._signer.address,
                account.balance,
                self.settings.low_balance_ustx,
                extra={"backend_balance_ustx": account.balance},
            )
