"""The MongoDB connection shared by every repository (PyMongo's native async API)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from services.store.indexes import ensure_indexes

log = logging.getLogger(__name__)

T = TypeVar("T")
Document = dict[str, Any]


class MongoStore:
    """Owns the client; repositories get `db` and run multi-document writes through `transaction`."""

    def __init__(self, uri: str, database: str, timeout_ms: int = 5000) -> None:
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="policy-registry",
            retryWrites=True,
            retryReads=True,
        )
        self.db: AsyncDatabase[Document] = self.client[database]

    async def ping(self) -> bool:
        try:
            await self.db.command("ping")
            return True
        except PyMongoError:
            return False

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self.db)

    async def transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `work` in one multi-document transaction, retried by the driver on transient errors."""
        async with self.client.start_session() as session:
            return await session.with_transaction(work)

    async def close(self) -> None:
        await self.client.close()
