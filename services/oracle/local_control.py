"""The operator's handle on the local price feed, persisted so every process (API replicas, the worker) agrees.

`LocalPriceFeed` keeps prices in memory; `LocalPriceControl` stores them in `local_prices` and loads them into the
feed before each poll, so a price set through one process is what every process's next poll samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.core.prices import Asset
from services.oracle.sources.local import LocalPriceFeed


class LocalPriceControl:
    def __init__(self, feed: LocalPriceFeed, db: AsyncDatabase[dict[str, Any]], defaults: Mapping[Asset, int]) -> None:
        self.feed = feed
        self._prices = db.local_prices
        self._defaults = dict(defaults)

    async def load(self) -> dict[Asset, int]:
        """Sync the feed from storage, seeding the configured defaults on first use."""
        for asset, price in self._defaults.items():
            await self._prices.update_one({"_id": asset.value}, {"$setOnInsert": {"price_usd8": price}}, upsert=True)
        prices = {Asset(d["_id"]): int(d["price_usd8"]) async for d in self._prices.find({})}
        for asset, price in prices.items():
            self.feed.set_price(asset, price)
        return prices

    async def set_price(self, asset: Asset, price_usd8: int) -> None:
        if isinstance(price_usd8, bool) or not isinstance(price_usd8, int) or price_usd8 <= 0:
            raise ValueError("price_usd8 must be a positive integer")
        await self._prices.update_one({"_id": asset.value}, {"$set": {"price_usd8": price_usd8}}, upsert=True)
        self.feed.set_price(asset, price_usd8)
