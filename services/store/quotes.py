"""`quotes`: priced previews (kept a day: a TTL index on `expires_at`) and the binding quotes kept with the policy
they created (`used_by`, no `expires_at`). The documents are written by services/policies/quotes.py."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from services.store.mongo import Document, MongoStore
from services.store.names import Collection


class QuoteRepository:
    def __init__(self, store: MongoStore) -> None:
        self._quotes = store.db[Collection.QUOTES]

    async def insert(self, doc: Document, session: AsyncClientSession | None = None) -> None:
        await self._quotes.insert_one(doc, session=session)

    async def get(self, quote_id: str) -> Document | None:
        return await self._quotes.find_one({"_id": quote_id})

    async def claim(self, quote_id: str, policy_id: str, session: AsyncClientSession) -> bool:
        """Mark a stored preview used by `policy_id` and keep it for good; False if it was already used."""
        claimed = await self._quotes.update_one(
            {"_id": quote_id, "used_by": {"$exists": False}},
            {"$set": {"used_by": policy_id}, "$unset": {"expires_at": ""}},
            session=session,
        )
        return bool(claimed.modified_count)
