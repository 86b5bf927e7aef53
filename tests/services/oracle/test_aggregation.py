"""Aggregation: window, latest per source, outliers (1.5 × IQR), weights, minimum sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.oracle import (
    Asset,
    OracleParameters,
    PriceSample,
    PriceUnavailable,
    UnavailableReason,
    aggregate_price,
)
from services.oracle.aggregation import quantile

NOW = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
PARAMS = OracleParameters()
USD = 100_000_000


def sample(source: str, price: int, age_s: float = 0, asset: Asset = Asset.BTC_USD) -> PriceSample:
    return PriceSample(source, asset, price, NOW - timedelta(seconds=age_s))


def weights(*names: str, **custom: int) -> dict[str, Decimal]:
    table = {name: Decimal(1) for name in names}
    table.update({name: Decimal(w) for name, w in custom.items()})
    return table


def test_three_sources_equal_weights() -> None:
    result = aggregate_price(
        Asset.BTC_USD, [sample("a", 100 * USD), sample("b", 101 * USD), sample("c", 102 * USD)],
        weights("a", "b", "c"), NOW, PARAMS,
    )  # fmt: skip
    assert result.price_usd8 == 101 * USD
    assert result.sources == ("a", "b", "c")
    assert result.dropped_outliers == ()
    assert result.as_of == NOW


def test_weighted_mean_and_half_even_rounding() -> None:
    # (2·100 + 1·101 + 1·104) / 4 = 101.25
    samples = [sample("a", 100), sample("b", 101), sample("c", 104)]
    assert aggregate_price(Asset.BTC_USD, samples, weights(b=1, c=1, a=2), NOW, PARAMS).price_usd8 == 101
    # (100 + 101 + 104 + 105 weighted 1,1,1,1) / 4 = 102.5 → 102 (even); 103.5 → 104.
    four = [sample("a", 100), sample("b", 101), sample("c", 104), sample("d", 105)]
    assert aggregate_price(Asset.BTC_USD, four, weights("a", "b", "c", "d"), NOW, PARAMS).price_usd8 == 102
    four_up = [sample("a", 101), sample("b", 102), sample("c", 105), sample("d", 106)]
    assert aggregate_price(Asset.BTC_USD, four_up, weights("a", "b", "c", "d"), NOW, PARAMS).price_usd8 == 104
    # Fractional weights: (0.5·100 + 1.5·104 + 1·101) / 3 = 307/3 = 102.33 → 102
    assert (
        aggregate_price(
            Asset.BTC_USD, [sample("a", 100), sample("b", 104), sample("c", 101)],
            {"a": Decimal("0.5"), "b": Decimal("1.5"), "c": Decimal(1)}, NOW, PARAMS,
        ).price_usd8
        == 102
    )  # fmt: skip


def test_outlier_dropped_with_four_or_more() -> None:
    # Prices 100, 101, 102, 150: Q1 = 100.75, Q3 = 114 (linear), IQR = 13.25, upper fence 133.875 → 150 dropped.
    samples = [sample("a", 100), sample("b", 101), sample("c", 102), sample("d", 150)]
    result = aggregate_price(Asset.BTC_USD, samples, weights("a", "b", "c", "d"), NOW, PARAMS)
    assert result.dropped_outliers == ("d",)
    assert result.sources == ("a", "b", "c")
    assert result.price_usd8 == 101
    assert [s.source for s in result.samples] == ["a", "b", "c"]


def test_low_outlier_dropped_and_fence_is_inclusive() -> None:
    # 1000, 1000, 1010, 1020, 1030: Q1 = 1000, Q3 = 1020, IQR = 20, fences [970, 1050].
    base = [sample("a", 1000), sample("b", 1000), sample("c", 1010), sample("d", 1020)]
    names = weights("a", "b", "c", "d", "e")
    at_fence = aggregate_price(Asset.BTC_USD, [*base, sample("e", 1050)], names, NOW, PARAMS)
    assert at_fence.dropped_outliers == ()
    # 1000,1000,1010,1020,1051: Q3 still 1020, upper fence 1050 → 1051 out.
    beyond = aggregate_price(Asset.BTC_USD, [*base, sample("e", 1051)], names, NOW, PARAMS)
    assert beyond.dropped_outliers == ("e",)
    low = aggregate_price(Asset.BTC_USD, [*base, sample("e", 900)], names, NOW, PARAMS)
    assert low.dropped_outliers == ("e",)


def test_no_outlier_rule_with_three_samples() -> None:
    samples = [sample("a", 100), sample("b", 101), sample("c", 1000)]
    result = aggregate_price(Asset.BTC_USD, samples, weights("a", "b", "c"), NOW, PARAMS)
    assert result.dropped_outliers == ()
    assert result.price_usd8 == 400  # (100 + 101 + 1000) / 3 = 400.33


def test_unavailable_when_outliers_leave_too_few() -> None:
    # With an IQR factor of 0 only prices inside [Q1, Q3] = [10.75, 12.25] survive: 11 and 12, two of four.
    params = OracleParameters(iqr_factor=Decimal(0))
    samples = [sample("a", 10), sample("b", 11), sample("c", 12), sample("d", 13)]
    with pytest.raises(PriceUnavailable) as caught:
        aggregate_price(Asset.BTC_USD, samples, weights("a", "b", "c", "d"), NOW, params)
    assert caught.value.reason is UnavailableReason.TOO_FEW_SOURCES
    assert "outliers" in caught.value.detail


def test_stale_samples_ignored_and_reported_as_stale() -> None:
    window = PARAMS.window_seconds
    samples = [sample("a", 100, age_s=window), sample("b", 101, age_s=window + 1), sample("c", 102, age_s=10)]
    with pytest.raises(PriceUnavailable) as caught:
        aggregate_price(Asset.BTC_USD, samples, weights("a", "b", "c"), NOW, PARAMS)
    assert caught.value.reason is UnavailableReason.STALE
    assert caught.value.asset is Asset.BTC_USD
    assert "2 source(s) reported within 900 s (3 in all), 3 required" in str(caught.value)
    fresh_b = sample("b", 104, age_s=window)  # exactly 15 minutes old is still inside the window
    result = aggregate_price(Asset.BTC_USD, [*samples, fresh_b], weights("a", "b", "c"), NOW, PARAMS)
    assert result.price_usd8 == 102


def test_too_few_sources() -> None:
    with pytest.raises(PriceUnavailable) as caught:
        aggregate_price(Asset.BTC_USD, [sample("a", 1), sample("b", 1)], weights("a", "b", "c"), NOW, PARAMS)
    assert caught.value.reason is UnavailableReason.TOO_FEW_SOURCES


def test_latest_sample_per_source_counts_once() -> None:
    # Three samples from one source are one source; the newest wins.
    samples = [sample("a", 90, age_s=100), sample("a", 100, age_s=5), sample("a", 80, age_s=50), sample("b", 100)]
    with pytest.raises(PriceUnavailable):
        aggregate_price(Asset.BTC_USD, samples, weights("a", "b"), NOW, PARAMS)
    result = aggregate_price(Asset.BTC_USD, [*samples, sample("c", 103)], weights("a", "b", "c"), NOW, PARAMS)
    assert result.price_usd8 == 101


def test_other_assets_unknown_sources_and_future_samples_are_ignored() -> None:
    samples = [
        sample("a", 100),
        sample("b", 100),
        sample("c", 100, asset=Asset.STX_USD),
        sample("retired", 100),
        sample("c", 100, age_s=-PARAMS.max_clock_skew_seconds - 1),
    ]
    with pytest.raises(PriceUnavailable):
        aggregate_price(Asset.BTC_USD, samples, weights("a", "b", "c"), NOW, PARAMS)
    skewed = sample("c", 106, age_s=-PARAMS.max_clock_skew_seconds)
    assert aggregate_price(Asset.BTC_USD, [*samples, skewed], weights("a", "b", "c"), NOW, PARAMS).price_usd8 == 102


def test_quantiles_match_numpy_linear() -> None:
    values = [3, 7, 8, 15, 21, 40]
    assert quantile(values, Fraction(1, 4)) == Fraction(29, 4)  # numpy.percentile(values, 25) = 7.25
    assert quantile(values, Fraction(3, 4)) == Fraction(39, 2)  # 19.5


@given(
    prices=st.lists(st.integers(1, 10**15), min_size=3, max_size=12),
    weight_values=st.lists(st.integers(1, 1000), min_size=12, max_size=12),
)
def test_result_lies_within_the_used_prices(prices: list[int], weight_values: list[int]) -> None:
    names = [f"s{i}" for i in range(len(prices))]
    table = {name: Decimal(w) for name, w in zip(names, weight_values, strict=False)}
    samples = [sample(name, price) for name, price in zip(names, prices, strict=True)]
    try:
        result = aggregate_price(Asset.BTC_USD, samples, table, NOW, PARAMS)
    except PriceUnavailable:
        return
    used = [s.price_usd8 for s in result.samples]
    assert min(used) <= result.price_usd8 <= max(used)
    assert len(result.sources) + len(result.dropped_outliers) == len(prices)
    assert len(result.sources) >= PARAMS.min_sources


def test_order_of_samples_does_not_matter() -> None:
    samples = [sample("a", 100, 5), sample("a", 200, 5), sample("b", 100), sample("c", 101), sample("d", 99)]
    names = weights("a", "b", "c", "d")
    forward = aggregate_price(Asset.BTC_USD, samples, names, NOW, PARAMS)
    backward = aggregate_price(Asset.BTC_USD, list(reversed(samples)), names, NOW, PARAMS)
    assert forward == backward
