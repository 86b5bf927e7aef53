"""The oracle service: polls sources into the store and answers the latest aggregated price with volatility."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from services.core.prices import AggregatedPrice, Asset, PriceAggregate, PriceSample, PriceUnavailable
from services.oracle.aggregation import aggregate_price
from services.oracle.parameters import OracleParameters
from services.oracle.polling import poll_once
from services.oracle.sources.base import Clock, PriceSource, utc_now
from services.oracle.store import PriceSampleStore
from services.oracle.volatility import annualized_volatility_ppm

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefreshReport:
    samples: tuple[PriceSample, ...]
    aggregates: dict[Asset, PriceAggregate] = field(default_factory=dict)
    unavailable: dict[Asset, PriceUnavailable] = field(default_factory=dict)


class OracleService:
    def __init__(
        self,
        sources: Sequence[PriceSource],
        store: PriceSampleStore,
        parameters: OracleParameters,
        *,
        clock: Clock = utc_now,
    ) -> None:
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"price source names must be unique: {names}")
        self._sources = tuple(sources)
        self._weights: dict[str, Decimal] = {s.name: s.weight for s in sources}
        self._store = store
        self._parameters = parameters
        self._clock = clock

    @property
    def parameters(self) -> OracleParameters:
        return self._parameters

    async def refresh(self) -> RefreshReport:
        """Poll all sources once, store the samples, then aggregate each asset and store the aggregates."""
        samples = await poll_once(
            self._sources, self._parameters.assets, timeout_seconds=self._parameters.fetch_timeout_seconds
        )
        if samples:
            await self._store.add(samples)
        report = RefreshReport(samples=tuple(samples))
        for asset in self._parameters.assets:
            try:
                aggregate = await self._aggregate(asset)
            except PriceUnavailable as exc:
                logger.warning("%s", exc)
                report.unavailable[asset] = exc
                continue
            await self._store.add_aggregate(aggregate)
            report.aggregates[asset] = aggregate
        return report

    async def latest_price(self, asset: Asset) -> AggregatedPrice:
        """The aggregated price from the stored samples, with volatility; raises PriceUnavailable."""
        aggregate = await self._aggregate(asset)
        closes = await self._store.daily_closes(asset, self._parameters.volatility_days + 1, aggregate.as_of)
        volatility_ppm, from_history = annualized_volatility_ppm(closes, self._parameters)
        return AggregatedPrice(
            asset=aggregate.asset,
            price_usd8=aggregate.price_usd8,
            sources=aggregate.sources,
            dropped_outliers=aggregate.dropped_outliers,
            as_of=aggregate.as_of,
            volatility_ppm=volatility_ppm,
            volatility_from_history=from_history,
            samples=aggregate.samples,
        )

    async def _aggregate(self, asset: Asset) -> PriceAggregate:
        now = self._clock()
        since = now - timedelta(seconds=self._parameters.stale_lookback_seconds)
        samples = await self._store.latest_per_source(asset, since)
        return aggregate_price(asset, samples, self._weights, now, self._parameters)
