"""`backend_txs`: one document per attempt of a backend-signed status update (services/backend_txs).

A transaction is `active` while it can still confirm (a partial unique index on `{policy_id, action}` over the
active documents allows one at a time). Every write of the sender is conditional on the document being as the
sender read it (`status` and `txid` name every step of its life), so a write that finds it moved changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.store.mongo import Document, MongoStore
from services.store.names import Collection


@dataclass(frozen=True)
class Append:
    """Append `value` to the list `field`, keeping only the last `keep` entries when it is set."""

    field: str
    value: Any
    keep: int | None = None


class BackendTxRepository:
    def __init__(self, store: MongoStore) -> None:
        self._txs = store.db[Collection.BACKEND_TXS]

    # --- the queue: enqueue and reads --------------------------------------------------------------------------
    async def latest_attempt(self, policy_id: str, action: str, session: AsyncClientSession) -> Document | None:
        return await self._txs.find_one(
            {"policy_id": policy_id, "action": action}, sort=[("attempt", -1)], session=session
        )

    async def insert(self, doc: Document, session: AsyncClientSession) -> bool:
        """False when an active transaction of the same (policy, action) exists (the partial unique index)."""
        try:
            await self._txs.insert_one(doc, session=session)
        except DuplicateKeyError:
            return False
        return True

    async def clear_alerts(self, policy_id: str, action: str, session: AsyncClientSession) -> None:
        """The earlier attempts' alerts have been acted on (the operator retried)."""
        await self._txs.update_many(
            {"policy_id": policy_id, "action": action, "alert": {"$exists": True}},
            {"$unset": {"alert": ""}},
            session=session,
        )

    async def for_policy(self, policy_id: str) -> list[Document]:
        return await self._txs.find({"policy_id": policy_id}).sort([("action", 1), ("attempt", 1)]).to_list(None)

    # --- the sender: conditional writes ------------------------------------------------------------------------
    async def due(self, now: datetime) -> list[Document]:
        """Active transactions whose next step is due, oldest first."""
        return await self._txs.find({"active": True, "next_try_at": {"$lte": now}}).sort("created_at", 1).to_list(None)

    async def update(
        self,
        doc: Document,
        changes: dict[str, Any],
        session: AsyncClientSession,
        *,
        append: Append | None = None,
        inc: dict[str, int] | None = None,
        unset: tuple[str, ...] = (),
    ) -> Document | None:
        """Apply the changes if the transaction is as `doc` read it; the document after, or None if it moved."""
        update: Document = {"$set": changes}
        if append is not None:
            pushed: Any = append.value
            if append.keep is not None:
                pushed = {"$each": [append.value], "$slice": -append.keep}
            update["$push"] = {append.field: pushed}
        if inc:
            update["$inc"] = inc
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        return await self._txs.find_one_and_update(
            _unchanged(doc), update, return_document=ReturnDocument.AFTER, session=session
        )

    async def finish(
        self, doc: Document, changes: dict[str, Any], unset: tuple[str, ...], session: AsyncClientSession
    ) -> bool:
        """End the transaction (no longer `active`) if it is as `doc` read it; False if it moved."""
        result = await self._txs.update_one(
            _unchanged(doc),
            {"$set": changes, "$unset": dict.fromkeys(("active", *unset), "")},
            session=session,
        )
        return result.matched_count == 1

    # --- what /metrics reports ---------------------------------------------------------------------------------
    async def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for row in await self._txs.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            counts[str(row["_id"])] = int(row["n"])
        return counts

    async def rejection_counts(self) -> dict[tuple[str, str], int]:
        """Every refusal of the node, by (reason, action): the sum of `rejection_counts.<reason>.<action>` (the
        `rejections` history keeps only the latest)."""
        refused: dict[tuple[str, str], int] = {}
        counted = {"rejection_counts": {"$exists": True}}
        async for doc in self._txs.find(counted, projection={"rejection_counts": 1}):
            for reason, actions in doc["rejection_counts"].items():
                for action, n in actions.items():
                    refused[(reason, action)] = refused.get((reason, action), 0) + int(n)
        return refused

    async def alerts_by_reason(self) -> dict[str, int]:
        """Transactions waiting on the operator, by the reason of their alert."""
        by_reason: dict[str, int] = {}
        async for doc in self._txs.find({"alert": {"$exists": True}}, projection={"alert.reason": 1}):
            reason = str(doc["alert"]["reason"])
            by_reason[reason] = by_reason.get(reason, 0) + 1
        return by_reason


def _unchanged(doc: Document) -> Document:
    # status and txid name every step of a transaction's life: if both are as read, no other writer moved it
    return {"_id": doc["_id"], "active": True, "status": doc["status"], "txid": doc.get("txid")}
