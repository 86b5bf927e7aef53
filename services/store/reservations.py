"""Collateral reservations, and the per-wallet lock that serializes a wallet's creations.

`reservations` holds one document per signed quote (services/liquidity/service.py, the only code that changes them):
*held* from the moment its quote is signed, *converted* when the policy's creation confirms, *released* when the
creation fails or the quote lapses. A reservation is open while it is held and its quote's expiry height has not
passed. Creations of one wallet write its lock document first in their transaction, so two concurrent creations by
the same wallet conflict there: the driver retries the loser, which then sees the winner's reservation when it
checks the wallet's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.store.mongo import Document, MongoStore
from services.store.names import Collection

HELD, RELEASED, CONVERTED = "held", "released", "converted"


@dataclass(frozen=True)
class OpenReservation:
    quote_id: str
    tier: str
    collateral_ustx: int
    premium_ustx: int  # 0 for reservations written before the funds check kept it
    fee_ustx: int


class ReservationRepository:
    def __init__(self, store: MongoStore) -> None:
        self._reservations = store.db[Collection.RESERVATIONS]

    async def reserved_total(self, tier: str, burn_height: int, session: AsyncClientSession | None = None) -> int:
        """Collateral held for `tier` by quotes still valid at `burn_height`."""
        pipeline: list[Document] = [
            {"$match": {"tier": tier, "status": HELD, "expires_burn_height": {"$gte": burn_height}}},
            {"$group": {"_id": None, "total": {"$sum": "$amount_ustx"}}},
        ]
        cursor = await self._reservations.aggregate(pipeline, session=session)
        rows = await cursor.to_list(length=1)
        return int(rows[0]["total"]) if rows else 0

    async def hold(self, doc: Document, session: AsyncClientSession) -> None:
        """Insert a new reservation (its status `HELD`)."""
        await self._reservations.insert_one(doc, session=session)

    async def move(
        self, quote_id: str, from_status: str, to_status: str, reason: str, session: AsyncClientSession | None
    ) -> bool:
        """`from_status` → `to_status` with the reason; False if the reservation was not `from_status`."""
        result = await self._reservations.update_one(
            {"_id": quote_id, "status": from_status},
            {"$set": {"status": to_status, "reason": reason, "updated_at": now_utc()}},
            session=session,
        )
        return bool(result.modified_count)

    async def convert_many(self, quote_ids: list[str], reason: str, session: AsyncClientSession) -> int:
        """Held or released reservations of these quotes → converted, in one write; how many moved."""
        result = await self._reservations.update_many(
            {"_id": {"$in": quote_ids}, "status": {"$in": [HELD, RELEASED]}},
            {"$set": {"status": CONVERTED, "reason": reason, "updated_at": now_utc()}},
            session=session,
        )
        return result.modified_count

    async def get(self, quote_id: str) -> dict[str, Any] | None:
        return await self._reservations.find_one({"_id": quote_id})


class WalletReservations:
    def __init__(self, store: MongoStore) -> None:
        self._reservations = store.db[Collection.RESERVATIONS]
        self._locks = store.db[Collection.WALLET_LOCKS]

    async def lock(self, owner: str, session: AsyncClientSession) -> None:
        """Written first in a creation's transaction: one wallet's creations commit one after another."""
        await self._locks.update_one({"_id": owner}, {"$inc": {"seq": 1}}, upsert=True, session=session)

    async def open_for(self, owner: str, burn_height: int, session: AsyncClientSession) -> list[OpenReservation]:
        cursor = self._reservations.find(
            {"owner": owner, "status": HELD, "expires_burn_height": {"$gte": burn_height}},
            {"tier": 1, "amount_ustx": 1, "premium_ustx": 1, "fee_ustx": 1},
            session=session,
        )
        return [
            OpenReservation(
                quote_id=str(doc["_id"]),
                tier=str(doc["tier"]),
                collateral_ustx=int(doc["amount_ustx"]),
                premium_ustx=int(doc.get("premium_ustx", 0)),
                fee_ustx=int(doc.get("fee_ustx", 0)),
            )
            for doc in await cursor.to_list(length=None)
        ]
