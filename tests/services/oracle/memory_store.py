"""An in-memory PriceSampleStore: a test double of the MongoDB repository, following the Protocol's contract."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from services.oracle import Asset, PriceAggregate, PriceSample


class MemoryPriceStore:
    def __init__(self) -> None:
        self.samples: list[PriceSample] = []
        self.aggregates: list[PriceAggregate] = []

    async def add(self, samples: Sequence[PriceSample]) -> None:
        self.samples.extend(samples)

    async def latest_per_source(self, asset: Asset, since: datetime) -> list[PriceSample]:
        latest: dict[str, PriceSample] = {}
        for sample in self.samples:
            if sample.asset != asset or sample.observed_at < since:
                continue
            current = latest.get(sample.source)
            if current is None or sample.observed_at >= current.observed_at:
                latest[sample.source] = sample
        return list(latest.values())

    async def add_aggregate(self, aggregate: PriceAggregate) -> None:
        self.aggregates.append(aggregate)

    async def daily_closes(self, asset: Asset, days: int, until: datetime) -> list[int]:
        first_day = until.date() - timedelta(days=days - 1)
        closes: dict[date, PriceAggregate] = {}
        for aggregate in sorted(self.aggregates, key=lambda a: a.as_of):
            day = aggregate.as_of.date()
            if aggregate.asset == asset and first_day <= day and aggregate.as_of <= until:
                closes[day] = aggregate
        return [closes[day].price_usd8 for day in sorted(closes)]
