"""Wallet sign-in's two collections: one-time challenges and the sessions they open.

`auth_challenges` {_id: nonce, address, client, message, created_at, expires_at, used_at} and `sessions`
{_id: sha256(token), address, public_key, created_at, expires_at, revoked_at}. Both carry a TTL index on
`expires_at`, so the database forgets them once they are useless.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import DESCENDING

from services.store.mongo import Document, MongoStore
from services.store.names import Collection


def _open(now: datetime) -> Document:
    return {"used_at": None, "expires_at": {"$gt": now}}


class ChallengeRepository:
    def __init__(self, store: MongoStore) -> None:
        self._challenges = store.db[Collection.AUTH_CHALLENGES]

    async def insert(self, challenge: Document) -> None:
        await self._challenges.insert_one(challenge)

    async def delete(self, nonce: str) -> None:
        await self._challenges.delete_one({"_id": nonce})

    async def count_open_by_client(self, client: str, now: datetime) -> int:
        """Challenges asked for by `client` that are neither used nor expired at `now`."""
        return await self._challenges.count_documents({"client": client, **_open(now)})

    async def count_open_by_address(self, address: str, now: datetime) -> int:
        return await self._challenges.count_documents({"address": address, **_open(now)})

    async def open_for(self, address: str, now: datetime, limit: int) -> list[Document]:
        """At most `limit` of the address's open challenges, newest first."""
        cursor = (
            self._challenges.find({"address": address, **_open(now)})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return await cursor.to_list(length=limit)

    async def consume(self, nonce: str, now: datetime) -> bool:
        """Mark the challenge used at `now`; False if it was used already (another sign-in won)."""
        consumed = await self._challenges.update_one({"_id": nonce, "used_at": None}, {"$set": {"used_at": now}})
        return consumed.modified_count == 1


class SessionRepository:
    def __init__(self, store: MongoStore) -> None:
        self._sessions = store.db[Collection.SESSIONS]

    async def insert(self, session: Document) -> None:
        await self._sessions.insert_one(session)

    async def live(self, key: str, now: datetime) -> Document | None:
        """The session stored under `key` if it is neither revoked nor expired at `now`."""
        return await self._sessions.find_one({"_id": key, "revoked_at": None, "expires_at": {"$gt": now}})

    async def is_unrevoked(self, key: str) -> bool:
        return await self._sessions.find_one({"_id": key, "revoked_at": None}, {"_id": 1}) is not None

    async def revoke(self, key: str, now: datetime) -> None:
        await self._sessions.update_one({"_id": key, "revoked_at": None}, {"$set": {"revoked_at": now}})
