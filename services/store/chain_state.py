"""Repository of the listener's checkpoint (`chain_cursor`) and the chain status it publishes (`chain_state`).

`chain_cursor {_id: "listener"}`: ``applied_through`` (position of the last applied event), ``synced_height``
(every log up to this Stacks height is ingested), ``chain_marker`` (the chain our data came from).
`chain_state` holds three documents: ``tip`` (the chain tip at the last poll), ``listener`` (its progress, lag,
last error and running totals) and ``reconciliation`` (the last reconciliation run and its totals).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.store.mongo import Document, MongoStore
from services.store.names import ChainStateId, Collection


@dataclass(frozen=True)
class ChainStateDocuments:
    """The published `chain_state` documents (empty when not written yet)."""

    tip: Document = field(default_factory=dict)
    listener: Document = field(default_factory=dict)
    reconciliation: Document = field(default_factory=dict)


class ChainStateRepository:
    def __init__(self, store: MongoStore) -> None:
        self._cursor = store.db[Collection.CHAIN_CURSOR]
        self._state = store.db[Collection.CHAIN_STATE]

    # the listener's cursor --------------------------------------------------------------------------------
    async def load_cursor(self, session: AsyncClientSession | None = None) -> Document:
        found = await self._cursor.find_one({"_id": ChainStateId.LISTENER}, session=session)
        return found or {"_id": ChainStateId.LISTENER}

    async def set_cursor(self, fields: Document, session: AsyncClientSession | None = None) -> None:
        await self._cursor.update_one(
            {"_id": ChainStateId.LISTENER},
            {"$set": {**fields, "updated_at": now_utc()}},
            upsert=True,
            session=session,
        )

    # published status -------------------------------------------------------------------------------------
    async def publish_tip(self, fields: Document, session: AsyncClientSession | None = None) -> None:
        await self._set(ChainStateId.TIP, fields, session)

    async def publish_listener(
        self, fields: Document, totals: dict[str, int], session: AsyncClientSession | None = None
    ) -> None:
        """The listener's status after a poll, and its running totals incremented by that poll's counts."""
        await self._set(ChainStateId.LISTENER, fields, session)
        await self._state.update_one({"_id": ChainStateId.LISTENER}, {"$inc": totals}, session=session)

    async def record_reconciliation(
        self, fields: Document, repairs: int, session: AsyncClientSession | None = None
    ) -> None:
        """A reconciliation run: its figures, and the totals across runs."""
        await self._state.update_one(
            {"_id": ChainStateId.RECONCILIATION},
            {"$inc": {"repairs_total": repairs, "runs_total": 1}, "$set": fields},
            upsert=True,
            session=session,
        )

    async def status_documents(self) -> ChainStateDocuments:
        """The tip, listener and reconciliation documents, in one read (`chainStatus`, the metrics endpoint)."""
        ids = [ChainStateId.TIP, ChainStateId.LISTENER, ChainStateId.RECONCILIATION]
        docs = {d["_id"]: d for d in await self._state.find({"_id": {"$in": ids}}).to_list(len(ids))}
        return ChainStateDocuments(
            tip=docs.get(ChainStateId.TIP, {}),
            listener=docs.get(ChainStateId.LISTENER, {}),
            reconciliation=docs.get(ChainStateId.RECONCILIATION, {}),
        )

    async def _set(self, _id: str, fields: Document, session: AsyncClientSession | None) -> None:
        await self._state.update_one(
            {"_id": _id}, {"$set": {**fields, "updated_at": now_utc()}}, upsert=True, session=session
        )
