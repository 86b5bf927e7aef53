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
from dataclasses import dataclass
from enum import StrEnum

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.core.errors import Conflict
from services.store.backend_txs import BackendTxRepository
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)


class PolicyAction(StrEnum):
    SETTLE = "settle"  # update-policy-status(id, u1, settlement, price)
    EXPIRE = "expire"  # update-policy-status(id, u2, u0, u0)


_NEW_STATUS = {PolicyAction.SETTLE: 1, PolicyAction.EXPIRE: 2}


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
    """Enqueue (an API request or a job, inside their transaction) and reads; `sender.BackendTxSender` sends."""

    def __init__(self, store: MongoStore) -> None:
        self._txs = BackendTxRepository(store)

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
        previous = await self._txs.latest_attempt(policy_id, action.value, session)
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
        if not await self._txs.insert(doc, session):
            raise Conflict(f"a {action.value} transaction for this policy is already in flight", policyId=policy_id)
        if previous is not None:
            # the operator retried: the earlier attempts' alerts have been acted on
            await self._txs.clear_alerts(policy_id, action.value, session)
        log.info("backend tx queued", extra={"policy_id": policy_id, "action": action.value, "attempt": doc["attempt"]})
        return QueuedTx.from_doc(doc)

    async def for_policy(self, policy_id: str) -> list[QueuedTx]:
        return [QueuedTx.from_doc(d) for d in await self._txs.for_policy(policy_id)]
