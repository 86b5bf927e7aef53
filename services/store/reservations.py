"""A wallet's open collateral reservations, and the per-wallet lock that serializes its creations.

`reservations` holds one document per signed quote (services/liquidity/service.py); a reservation is open while
it is held and its quote's expiry height has not passed. Creations of one wallet write its lock document first in
their transaction, so two concurrent creations by the same wallet conflict there: the driver retries the loser,
which then sees the winner's reservation when it checks the wallet's bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.client_session import AsyncClientSession

from services.store.mongo import MongoStore

HELD, RELEASED, CONVERTED = "held", "released", "converted"


@dataclass(frozen=True)
class OpenReservation:
    quote_id: str
    tier: str
    collateral_ustx: int
    premium_ustx: int  # 0 for reservations written before the funds check kept it
    fee_ustx: int


class WalletReservations:
    def __init__(self, store: MongoStore) -> None:
        self._reservations = store.db.reservations
        self._locks = store.db.wallet_locks

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
