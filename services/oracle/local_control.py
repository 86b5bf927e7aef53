"""The operator's handle on the local price feed, persisted so every process (API replicas, the worker) agrees.

`LocalPriceFeed` keeps prices in memory; `LocalPriceControl` stores them in `local_prices` and loads them into the
feed before each poll, so a price set through one process is what every process's next poll samples.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.core.prices import Asset
from services.oracle.sources.local import LocalPriceFeed
from services.store.local_prices import LocalPriceRepository
from services.store.mongo import MongoStore


class LocalPriceControl:
    def __init__(self, feed: LocalPriceFeed, store: MongoStore, defaults: Mapping[Asset, int]) -> None:
        self.feed = feed
        self._prices = LocalPriceRepository(store)
        self._defaults = dict(defaults)

    async def load(self) -> dict[Asset, int]:
        """Sync the feed from storage, seeding the configured defaults on first use."""
        await self._prices.seed(self._defaults)
        prices = await self._prices.all()
        for asset, price in prices.items():
            self.feed.set_price(asset, price)
        return prices

    async def set_price(self, asset: Asset, price_usd8: int) -> None:
        if isinstance(price_usd8, bool) or not isinstance(price_usd8, int) or price_usd8 <= 0:
            raise ValueError("price_usd8 must be a positive integer")
        await self._prices.set(asset, price_usd8)
        self.feed.set_price(asset, price_usd8)
