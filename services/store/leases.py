"""Leader leases for singleton jobs (DESIGN §9), in the `leases` collection.

One document per job: ``{_id: job name, holder, epoch, expires_at, acquired_at, renewed_at, fenced_at}``. A
process holds the lease until another one takes it over, which it may once ``expires_at`` has passed; a takeover
increments ``epoch`` (a fencing token). Every write a job makes goes through :meth:`Lease.fence` inside its own
transaction, as its first write: that updates the lease document conditionally on ``holder`` and ``epoch``,
so a process that lost its lease cannot commit (its write either finds no matching lease or write-conflicts with
the new holder's takeover and is retried into the same refusal). Holders compare ``expires_at`` with their own
clock: keep the TTL well above the clock skew between hosts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.core.clock import now_utc
from services.core.fencing import LeaseLost
from services.store.mongo import MongoStore
from services.store.names import Collection

log = logging.getLogger(__name__)


@dataclass
class Lease:
    """The lease of job ``name`` as seen by ``holder`` (unique per process)."""

    store: MongoStore
    name: str
    holder: str
    ttl_s: float
    epoch: int | None = None

    @property
    def held(self) -> bool:
        return self.epoch is not None

    @property
    def _leases(self) -> AsyncCollection[dict[str, Any]]:
        return self.store.db[Collection.LEASES]

    async def acquire(self) -> bool:
        """Take (or keep) the lease; False if another live holder has it.

        The takeover is a transaction on purpose: a holder killed inside one of its fenced transactions leaves
        the lease document locked until the server reaps that transaction (transactionLifetimeLimitSeconds).
        Transactional writes see the conflict and are retried (and make the server reap expired transactions),
        where a plain write could wait on the lock indefinitely."""
        if self.epoch is not None and await self.renew():
            return True
        leases = self._leases

        async def take(session: AsyncClientSession) -> int | None:
            now = now_utc()
            expires = now + timedelta(seconds=self.ttl_s)
            fields = {"holder": self.holder, "expires_at": expires, "acquired_at": now, "renewed_at": now}
            doc = await leases.find_one_and_update(
                {"_id": self.name, "expires_at": {"$lte": now}},
                {"$set": fields, "$inc": {"epoch": 1}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is not None:
                return int(doc["epoch"])
            if await leases.find_one({"_id": self.name}, projection={"_id": 1}, session=session) is not None:
                return None
            await leases.insert_one({"_id": self.name, "epoch": 1, **fields}, session=session)
            return 1

        try:
            # Not `store.transaction`: the takeover runs with the client's concerns (majority reads and writes).
            async with self.store.client.start_session() as session:
                epoch = await session.with_transaction(take)
        except DuplicateKeyError:
            epoch = None
        self.epoch = epoch
        if epoch is None:
            return False
        log.info("lease %s acquired by %s (epoch %d)", self.name, self.holder, epoch)
        return True

    async def renew(self) -> bool:
        """Extend a held lease; False (and no longer held) if it was lost meanwhile."""
        if self.epoch is None:
            return False
        now = now_utc()
        # holder + epoch, not expiry: a lease that expired but was not taken over is still ours (a takeover
        # bumps the epoch), so a renewal that came late keeps it instead of churning epochs.
        result = await self._leases.update_one(
            {"_id": self.name, "holder": self.holder, "epoch": self.epoch},
            {"$set": {"expires_at": now + timedelta(seconds=self.ttl_s), "renewed_at": now}},
        )
        if result.matched_count != 1:
            log.warning("lease %s lost by %s (epoch %d)", self.name, self.holder, self.epoch)
            self.epoch = None
            return False
        return True

    async def release(self) -> None:
        """Give the lease up at once (on shutdown), so another process need not wait for the TTL."""
        if self.epoch is None:
            return
        await self._leases.update_one(
            {"_id": self.name, "holder": self.holder, "epoch": self.epoch},
            {"$set": {"expires_at": now_utc()}},
        )
        log.info("lease %s released by %s", self.name, self.holder)
        self.epoch = None

    async def fence(self, session: AsyncClientSession) -> None:
        """Inside a write transaction: prove the lease is still ours, or raise LeaseLost (nothing commits)."""
        if self.epoch is None:
            raise LeaseLost(f"lease {self.name} is not held by {self.holder}")
        now = now_utc()
        result = await self._leases.update_one(
            {"_id": self.name, "holder": self.holder, "epoch": self.epoch},
            {"$set": {"fenced_at": now}},
            session=session,
        )
        if result.matched_count != 1:
            self.epoch = None
            raise LeaseLost(f"lease {self.name} was lost by {self.holder}")
