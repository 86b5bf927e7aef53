"""The chain listener's writes to the tier mirror (`tiers`): the vault's totals as of a given vault event.

The liquidity ledger reads the same documents (services/liquidity); once the listener has applied an event of a
tier (`last_event` set), it is the only writer of that tier's totals.
"""

from __future__ import annotations

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.store.mongo import Document, MongoStore
from services.store.names import Collection


class TierSnapshotRepository:
    def __init__(self, store: MongoStore) -> None:
        self._tiers = store.db[Collection.TIERS]

    async def load_many(self, names: set[str], session: AsyncClientSession) -> dict[str, Document]:
        """The stored documents of these tiers (absent ones are left out)."""
        if not names:
            return {}
        found = await self._tiers.find({"_id": {"$in": sorted(names)}}, session=session).to_list(None)
        return {d["_id"]: d for d in found}

    async def write_many(self, snapshots: dict[str, Document], session: AsyncClientSession) -> None:
        """Set each tier's totals and `last_event` (``{tier: {totals..., "last_event": ...}}``), in one bulk write."""
        if not snapshots:
            return
        now = now_utc()
        writes = [
            UpdateOne({"_id": name}, {"$set": {**snapshots[name], "updated_at": now}}, upsert=True)
            for name in sorted(snapshots)
        ]
        await self._tiers.bulk_write(writes, ordered=True, session=session)

    async def set_snapshot(
        self, tier: str, totals: Document, last_event: Document | None, session: AsyncClientSession
    ) -> None:
        """Restore one tier to the totals after ``last_event`` (a reorg's re-derivation)."""
        await self._tiers.update_one(
            {"_id": tier},
            {"$set": {**totals, "last_event": last_event, "updated_at": now_utc()}},
            upsert=True,
            session=session,
        )
