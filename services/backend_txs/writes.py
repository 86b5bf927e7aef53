"""The sender's writes to `backend_txs`: each one fenced (the `backend-txs` lease is still this worker's) and
conditional (the transaction is as the worker read it), so a worker that lost its lease or was overtaken changes
nothing."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from services.backend_txs.outcomes import BackendTxOutcomes
from services.backend_txs.queue import PolicyAction
from services.core.clock import now_utc
from services.core.fencing import Fence, Unfenced
from services.store.backend_txs import Append, BackendTxRepository
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)


class Superseded(Exception):
    """The transaction is no longer in the state this worker read: another writer moved it; skip it."""


class FencedWrites:
    def __init__(self, store: MongoStore, outcomes: BackendTxOutcomes) -> None:
        self._store = store
        self.txs = BackendTxRepository(store)
        self._outcomes = outcomes
        self.fence: Fence = Unfenced()  # the lease of the current run (`BackendTxSender.process_once`)

    async def set(
        self,
        doc: Document,
        changes: dict[str, Any],
        *,
        append: Append | None = None,
        inc: dict[str, int] | None = None,
        unset: tuple[str, ...] = (),
    ) -> None:
        """One fenced, conditional write: the lease is still this worker's and the transaction is as it read it."""
        changes["updated_at"] = now_utc()

        async def work(session: AsyncClientSession) -> Document | None:
            await self.fence.fence(session)
            return await self.txs.update(doc, changes, session, append=append, inc=inc, unset=unset)

        updated = await self._store.transaction(work)
        if updated is None:
            raise Superseded(doc["_id"])
        doc.update(updated)

    async def finish(
        self,
        doc: Document,
        status: str,
        reason: str | None,
        session: AsyncClientSession | None = None,
        extra: Document | None = None,
    ) -> None:
        # a success ends any alert; a failure keeps it until the operator retries (enqueue clears it)
        unset = ("alert",) if status == "success" else ()

        async def work(session: AsyncClientSession) -> None:
            await self.fence.fence(session)
            changes = {
                "status": status,
                "failure_reason": reason,
                "updated_at": now_utc(),
                "finished_at": now_utc(),
                **(extra or {}),
            }
            if not await self.txs.finish(doc, changes, unset, session):
                raise Superseded(doc["_id"])

        await (work(session) if session is not None else self._store.transaction(work))

    async def fail(self, doc: Document, reason: str, extra: Document | None = None) -> None:
        """The attempt fails for good; the policy's move (FailedSettlement / FailedExpiration) commits with it."""
        action = PolicyAction(doc["action"])

        async def work(session: AsyncClientSession) -> None:
            await self.finish(doc, "failed", reason, session, extra)
            await self._outcomes.failed(doc["policy_id"], action, reason, doc.get("txid"), session)

        await self._store.transaction(work)
        log.error(
            "backend tx failed: %s",
            reason,
            extra={"policy_id": doc["policy_id"], "action": doc["action"], "txid": doc.get("txid")},
        )
