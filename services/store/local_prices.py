"""The operator's local prices (`local_prices` {_id: asset, price_usd8}), shared by every process."""

from __future__ import annotations

from collections.abc import Mapping

from services.core.prices import Asset
from services.store.mongo import MongoStore
from services.store.names import Collection


class LocalPriceRepository:
    def __init__(self, store: MongoStore) -> None:
        self._prices = store.db[Collection.LOCAL_PRICES]

    async def seed(self, defaults: Mapping[Asset, int]) -> None:
        """Store each default price unless the asset has a price already."""
        for asset, price in defaults.items():
            await self._prices.update_one({"_id": asset.value}, {"$setOnInsert": {"price_usd8": price}}, upsert=True)

    async def all(self) -> dict[Asset, int]:
        return {Asset(d["_id"]): int(d["price_usd8"]) async for d in self._prices.find({})}

    async def set(self, asset: Asset, price_usd8: int) -> None:
        await self._prices.update_one({"_id": asset.value}, {"$set": {"price_usd8": price_usd8}}, upsert=True)
