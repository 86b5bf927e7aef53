"""OracleService over the local feed and an in-memory store; polling with misbehaving sources."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.oracle import (
    Asset,
    LocalPriceFeed,
    OracleParameters,
    OracleService,
    PriceSample,
    PriceSource,
    PriceSourceError,
    PriceUnavailable,
    UnavailableReason,
    annualized_volatility_ppm,
    poll_once,
)
from tests.services.oracle.memory_store import MemoryPriceStore

USD = 100_000_000
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class SteppingClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ExplodingSource:
    name = "exploding"
    weight = Decimal(1)
    assets = frozenset(Asset)

    async def fetch(self, asset: Asset) -> PriceSample:
        raise RuntimeError("socket closed unexpectedly")


class HangingSource:
    name = "hanging"
    weight = Decimal(1)
    assets = frozenset(Asset)

    async def fetch(self, asset: Asset) -> PriceSample:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")


class ImpostorSource:
    """Returns a sample claiming to be another source."""

    name = "impostor"
    weight = Decimal(1)
    assets = frozenset({Asset.BTC_USD})

    async def fetch(self, asset: Asset) -> PriceSample:
        return PriceSample("local-1", asset, 1, START)


def test_local_feed_publishes_named_sources() -> None:
    feed = LocalPriceFeed({Asset.BTC_USD: 90_000 * USD})
    assert [s.name for s in feed.sources] == ["local-1", "local-2", "local-3"]
    assert all(s.weight == 1 and s.assets == frozenset(Asset) for s in feed.sources)
    assert [s.name for s in LocalPriceFeed(source_count=5, name_prefix="dev").sources][-1] == "dev-5"
    with pytest.raises(ValueError):
        feed.set_price(Asset.BTC_USD, 0)
    with pytest.raises(ValueError):
        LocalPriceFeed(source_count=0)


async def test_local_feed_set_price_and_missing_price() -> None:
    clock = SteppingClock(START)
    feed = LocalPriceFeed(clock=clock)
    with pytest.raises(PriceSourceError, match="no local price"):
        await feed.sources[0].fetch(Asset.STX_USD)
    feed.set_price(Asset.STX_USD, 28_500_000)
    assert await feed.sources[2].fetch(Asset.STX_USD) == PriceSample("local-3", Asset.STX_USD, 28_500_000, START)


async def test_poll_once_skips_failing_hanging_and_impostor_sources(caplog: pytest.LogCaptureFixture) -> None:
    feed = LocalPriceFeed({Asset.BTC_USD: 90_000 * USD}, clock=SteppingClock(START))
    sources: list[PriceSource] = [*feed.sources, ExplodingSource(), HangingSource(), ImpostorSource()]
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING, logger="services.oracle.polling"):
        samples = await poll_once(sources, [Asset.BTC_USD, Asset.STX_USD], timeout_seconds=0.1)
    assert loop.time() - started < 1.0
    assert [(s.source, s.asset) for s in samples] == [(f"local-{i}", Asset.BTC_USD) for i in (1, 2, 3)]
    assert "exploding failed for BTC-USD: RuntimeError: socket closed unexpectedly" in caplog.text
    assert "hanging timed out for STX-USD" in caplog.text
    assert "impostor returned a sample for the wrong source or asset" in caplog.text
    assert "local-1 failed for STX-USD: PriceSourceError: no local price set for STX-USD" in caplog.text


def make_service(
    feed: LocalPriceFeed, clock: SteppingClock, **params: object
) -> tuple[OracleService, MemoryPriceStore]:
    store = MemoryPriceStore()
    parameters = OracleParameters(fetch_timeout_seconds=0.5, **params)  # type: ignore[arg-type]
    return OracleService(feed.sources, store, parameters, clock=clock), store


async def test_refresh_then_latest_price_with_fallback_volatility() -> None:
    clock = SteppingClock(START)
    feed = LocalPriceFeed({Asset.BTC_USD: 90_000 * USD, Asset.STX_USD: 28_500_000}, clock=clock)
    service, store = make_service(feed, clock)
    report = await service.refresh()
    assert len(report.samples) == 6 and len(store.samples) == 6
    assert set(report.aggregates) == {Asset.BTC_USD, Asset.STX_USD} and report.unavailable == {}
    price = await service.latest_price(Asset.BTC_USD)
    assert price.price_usd8 == 90_000 * USD
    assert price.sources == ("local-1", "local-2", "local-3")
    assert price.dropped_outliers == ()
    assert price.as_of == START
    assert (price.volatility_ppm, price.volatility_from_history) == (300_000, False)
    assert len(price.samples) == 3


async def test_price_becomes_stale_without_refresh() -> None:
    clock = SteppingClock(START)
    feed = LocalPriceFeed({Asset.BTC_USD: 90_000 * USD, Asset.STX_USD: 28_500_000}, clock=clock)
    service, _ = make_service(feed, clock)
    await service.refresh()
    clock.advance(minutes=15)
    assert (await service.latest_price(Asset.STX_USD)).price_usd8 == 28_500_000
    clock.advance(seconds=1)
    with pytest.raises(PriceUnavailable) as caught:
        await service.latest_price(Asset.STX_USD)
    assert caught.value.reason is UnavailableReason.STALE


async def test_unavailable_with_too_few_sources() -> None:
    clock = SteppingClock(START)
    feed = LocalPriceFeed({Asset.BTC_USD: 90_000 * USD}, source_count=2, clock=clock)
    service, store = make_service(feed, clock)
    report = await service.refresh()
    assert report.unavailable[Asset.BTC_USD].reason is UnavailableReason.TOO_FEW_SOURCES
    assert report.unavailable[Asset.STX_USD].reason is UnavailableReason.TOO_FEW_SOURCES
    assert store.aggregates == []
    with pytest.raises(PriceUnavailable):
        await service.latest_price(Asset.BTC_USD)


async def test_volatility_from_daily_aggregates() -> None:
    clock = SteppingClock(START)
    feed = LocalPriceFeed({Asset.BTC_USD: 100 * USD, Asset.STX_USD: USD}, clock=clock)
    service, store = make_service(feed, clock)
    closes = []
    for day in range(10):
        price = (100 + 10 * (day % 2)) * USD  # alternating 100, 110
        # Two refreshes a day; only the day's last aggregate is its close.
        feed.set_price(Asset.BTC_USD, 50 * USD)
        await service.refresh()
        clock.advance(hours=6)
        feed.set_price(Asset.BTC_USD, price)
        await service.refresh()
        closes.append(price)
        clock.advance(hours=18)
    clock.advance(hours=-18)  # still on the last day, right after its close
    latest = await service.latest_price(Asset.BTC_USD)
    assert latest.volatility_from_history
    # 10 closes → 9 returns of ±ln 1.1: mean ln(1.1)/9, sample stdev over n − 1 = 8.
    assert await store.daily_closes(Asset.BTC_USD, 31, clock.now) == closes
    assert latest.volatility_ppm == annualized_volatility_ppm(closes, service.parameters)[0]
    assert 1_900_000 < latest.volatility_ppm < 2_100_000


def test_source_names_must_be_unique() -> None:
    feed = LocalPriceFeed()
    with pytest.raises(ValueError, match="unique"):
        OracleService([*feed.sources, feed.sources[0]], MemoryPriceStore(), OracleParameters())
