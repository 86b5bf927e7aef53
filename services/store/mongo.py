"""The MongoDB connection shared by every repository (PyMongo's native async API).

Every write on this client, inside a transaction or not, carries the client's write concern (default
``{w: "majority", j: true}``): a status transition, a reservation, a backend transaction or the listener's cursor
is acknowledged only once a majority of the replica set has journaled it, so a failover cannot roll it back.
Transactions read with read concern ``snapshot`` (or ``majority``) and commit with the same write concern.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern

from services.store import driver_fixes
from services.store.indexes import ensure_indexes

log = logging.getLogger(__name__)

T = TypeVar("T")
Document = dict[str, Any]

driver_fixes.apply()  # before any client exists: a cancelled operation must not break the driver's topology lock


@dataclass(frozen=True)
class WriteDurability:
    """The write concern of every write and the read concern of every transaction (MONGODB_WRITE_CONCERN, ...)."""

    w: str | int = "majority"
    journal: bool = True
    wtimeout_ms: int = 10_000
    txn_read_concern: Literal["snapshot", "majority"] = "snapshot"

    @property
    def write_concern(self) -> WriteConcern:
        return WriteConcern(w=self.w, j=self.journal, wtimeout=self.wtimeout_ms)

    @property
    def read_concern(self) -> ReadConcern:
        return ReadConcern(self.txn_read_concern)


MAJORITY = WriteDurability()


class MongoStore:
    """Owns the client; repositories get `db` and run multi-document writes through `transaction`."""

    def __init__(self, uri: str, database: str, timeout_ms: int = 5000, durability: WriteDurability = MAJORITY) -> None:
        self.durability = durability
        concern = durability.write_concern.document
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            appname="policy-registry",
            retryWrites=True,
            retryReads=True,
            w=concern["w"],
            journal=concern["j"],
            wTimeoutMS=concern["wtimeout"],
            # Reads outside `transaction` (and transactions started elsewhere, such as a lease takeover) see only
            # majority-committed data: nothing a failover could roll back.
            readConcernLevel="majority",
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
            return await session.with_transaction(work, **self.transaction_options())

    def transaction_options(self) -> dict[str, Any]:
        """What every transaction of this store runs with (also for sessions started outside `transaction`)."""
        return {"read_concern": self.durability.read_concern, "write_concern": self.durability.write_concern}

    async def close(self) -> None:
        await self.client.close()
