"""The liquidity ledger: `tiers` mirrors the vault's totals per risk tier (the chain listener writes it from vault
events; `sync_from_chain` seeds a tier it has not mirrored yet), and `tier_locks` holds one document per tier that
every reserving transaction writes first, so reservations of one tier commit one after another
(services/liquidity/service.py)."""

from __future__ import annotations

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.core.clock import now_utc
from services.store.mongo import Document, MongoStore
from services.store.names import Collection


class TierRepository:
    def __init__(self, store: MongoStore) -> None:
        self._tiers = store.db[Collection.TIERS]
        self._locks = store.db[Collection.TIER_LOCKS]

    async def ledger(self, tier: str, session: AsyncClientSession | None = None) -> Document | None:
        return await self._tiers.find_one({"_id": tier}, session=session)

    async def lock(self, tier: str, session: AsyncClientSession) -> None:
        """Written first in a reserving transaction: concurrent reservations of `tier` conflict here and are retried
        one after another."""
        await self._locks.update_one({"_id": tier}, {"$inc": {"seq": 1}}, upsert=True, session=session)

    async def seed_unmirrored(self, tier: str, fields: Document) -> bool:
        """Set a tier's totals only if the listener has not mirrored it yet (no `last_event`); False when it has
        (then it stays the only writer)."""
        try:
            await self._tiers.update_one({"_id": tier, "last_event": None}, {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            return False
        return True

    # --- the listener's writes (services/listener): the vault's totals as of a vault event ------------------------
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
