"""Change-stream resume tokens, one per process (`stream_tokens` {_id: INSTANCE_ID, token, updated_at})."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.core.clock import now_utc


class StreamTokenStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._tokens = db.stream_tokens

    async def load(self, instance_id: str) -> dict[str, Any] | None:
        doc = await self._tokens.find_one({"_id": instance_id})
        token = doc.get("token") if doc else None
        return token if isinstance(token, dict) else None

    async def save(self, instance_id: str, token: dict[str, Any]) -> None:
        await self._tokens.update_one(
            {"_id": instance_id}, {"$set": {"token": token, "updated_at": now_utc()}}, upsert=True
        )

    async def clear(self, instance_id: str) -> None:
        await self._tokens.delete_one({"_id": instance_id})
