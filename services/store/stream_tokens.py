"""Change-stream resume tokens, one per process (`stream_tokens` {_id: INSTANCE_ID, token, updated_at})."""

from __future__ import annotations

from services.core.clock import now_utc
from services.store.mongo import Document, MongoStore
from services.store.names import Collection


class StreamTokenRepository:
    def __init__(self, store: MongoStore) -> None:
        self._tokens = store.db[Collection.STREAM_TOKENS]

    async def load(self, instance_id: str) -> Document | None:
        doc = await self._tokens.find_one({"_id": instance_id})
        token = doc.get("token") if doc else None
        return token if isinstance(token, dict) else None

    async def save(self, instance_id: str, token: Document) -> None:
        await self._tokens.update_one(
            {"_id": instance_id}, {"$set": {"token": token, "updated_at": now_utc()}}, upsert=True
        )

    async def clear(self, instance_id: str) -> None:
        await self._tokens.delete_one({"_id": instance_id})
