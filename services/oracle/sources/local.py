"""A deterministic local price feed: the embedded default's oracle and the tests'.

An operator sets the price; the feed publishes it as N named sources (default 3: local-1 … local-3) so that the
≥ 3-sources rule holds without any network.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from services.core.prices import Asset, PriceSample, PriceSourceError
from services.oracle.sources.base import Clock, utc_now


class LocalPriceSource:
    def __init__(self, feed: LocalPriceFeed, name: str) -> None:
        self._feed = feed
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def weight(self) -> Decimal:
        return Decimal(1)

    @property
    def assets(self) -> frozenset[Asset]:
        return frozenset(Asset)

    async def fetch(self, asset: Asset) -> PriceSample:
        price = self._feed.price(asset)
        if price is None:
            raise PriceSourceError(f"no local price set for {asset.value}")
        return PriceSample(source=self._name, asset=asset, price_usd8=price, observed_at=self._feed.now())

    def __repr__(self) -> str:
        return f"LocalPriceSource(name={self._name!r})"


class LocalPriceFeed:
    def __init__(
        self,
        prices: Mapping[Asset, int] | None = None,
        *,
        source_count: int = 3,
        name_prefix: str = "local",
        clock: Clock = utc_now,
    ) -> None:
        if isinstance(source_count, bool) or not isinstance(source_count, int) or source_count < 1:
            raise ValueError("source_count must be a positive integer")
        self._prices: dict[Asset, int] = {}
        self._clock = clock
        self.sources: tuple[LocalPriceSource, ...] = tuple(
            LocalPriceSource(self, f"{name_prefix}-{i}") for i in range(1, source_count + 1)
        )
        for asset, price in (prices or {}).items():
            self.set_price(asset, price)

    def set_price(self, asset: Asset, price_usd8: int) -> None:
        if isinstance(price_usd8, bool) or not isinstance(price_usd8, int) or price_usd8 <= 0:
            raise ValueError("price_usd8 must be a positive integer")
        self._prices[Asset(asset)] = price_usd8

    def price(self, asset: Asset) -> int | None:
        return self._prices.get(asset)

    def now(self) -> datetime:
        return self._clock()
