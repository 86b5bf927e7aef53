"""The database's change stream, as the live-update feed uses it: `policies` and the `chain_state` tip document.

One `watch` on the database, filtered to the two collections, with `fullDocument: updateLookup` (each message is
the whole document), opened after a resume token when the caller has one.
"""

from __future__ import annotations

from enum import Enum

from pymongo.asynchronous.change_stream import AsyncChangeStream

from services.store.mongo import Document, MongoStore
from services.store.names import ChainStateId, Collection

WATCHED = (Collection.POLICIES, Collection.CHAIN_STATE)


class Changed(Enum):
    POLICY = "policy"  # the document is a whole `policies` document
    TIP = "tip"  # the document is the chain tip (`chain_state` `_id: tip`)


def classify(change: Document) -> tuple[Changed, Document] | None:
    """What a change stream message changed, with the whole document; None for anything else (a delete, a
    document gone by the time it was looked up, another `chain_state` document)."""
    coll = change.get("ns", {}).get("coll")
    doc = change.get("fullDocument")
    if not isinstance(doc, dict):
        return None
    if coll == Collection.POLICIES:
        return Changed.POLICY, doc
    if coll == Collection.CHAIN_STATE and doc.get("_id") == ChainStateId.TIP:
        return Changed.TIP, doc
    return None


class LiveChanges:
    def __init__(self, store: MongoStore) -> None:
        self._db = store.db

    async def open_stream(self, resume_after: Document | None, max_await_ms: int) -> AsyncChangeStream[Document]:
        """Open the stream (after `resume_after`, else from now); use it with `async with`."""
        pipeline = [{"$match": {"ns.coll": {"$in": list(WATCHED)}}}]
        return await self._db.watch(
            pipeline, full_document="updateLookup", resume_after=resume_after, max_await_time_ms=max_await_ms
        )

    async def tip(self) -> Document | None:
        """The chain tip document the listener last wrote, if any."""
        return await self._db[Collection.CHAIN_STATE].find_one({"_id": ChainStateId.TIP})
