"""Aggregation of per-source samples into one price (pure). DESIGN §7 "Oracle".

1. Only samples of the asset from known sources (those with a weight) count; per source the latest one
   (ties broken by the higher price, so the result does not depend on input order).
2. Samples dated more than the allowed clock skew after `now` are ignored before step 1; fresh = observed
   within `window_seconds` before `now`.
3. Fewer than `min_sources` fresh sources → PriceUnavailable: STALE when enough sources have reported but too
   long ago, TOO_FEW_SOURCES otherwise.
4. With ≥ `outlier_min_samples` fresh samples, drop those outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR] (fences
   inclusive; quartiles by linear interpolation between order statistics — numpy's default, Excel's
   PERCENTILE.INC), computed exactly with fractions. If that leaves fewer than `min_sources`, unavailable.
5. Weighted mean Σ wᵢ·pᵢ / Σ wᵢ, exact, rounded half-to-even to an integer usd8 (unbiased; the error is at most
   half of 1e-8 USD).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from services.core.prices import Asset, PriceAggregate, PriceSample, PriceUnavailable, UnavailableReason
from services.oracle.parameters import OracleParameters


def latest_per_source(samples: Iterable[PriceSample], asset: Asset, known: Iterable[str]) -> list[PriceSample]:
    names = set(known)
    latest: dict[str, PriceSample] = {}
    for sample in samples:
        if sample.asset != asset or sample.source not in names:
            continue
        current = latest.get(sample.source)
        if current is None or (sample.observed_at, sample.price_usd8) > (current.observed_at, current.price_usd8):
            latest[sample.source] = sample
    return sorted(latest.values(), key=lambda s: s.source)


def quantile(sorted_values: Sequence[int], q: Fraction) -> Fraction:
    """Linear-interpolation quantile of ascending values (position q·(n−1))."""
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def split_outliers(samples: Sequence[PriceSample], iqr_factor: Decimal) -> tuple[list[PriceSample], list[PriceSample]]:
    """(kept, dropped) by the Tukey fences on the sample prices."""
    prices = sorted(s.price_usd8 for s in samples)
    q1 = quantile(prices, Fraction(1, 4))
    q3 = quantile(prices, Fraction(3, 4))
    reach = (q3 - q1) * Fraction(iqr_factor)
    low, high = q1 - reach, q3 + reach
    kept = [s for s in samples if low <= s.price_usd8 <= high]
    dropped = [s for s in samples if not low <= s.price_usd8 <= high]
    return kept, dropped


def weighted_mean_usd8(samples: Sequence[PriceSample], weights: Mapping[str, Decimal]) -> int:
    total_weight = sum((Fraction(weights[s.source]) for s in samples), Fraction(0))
    weighted = sum((Fraction(weights[s.source]) * s.price_usd8 for s in samples), Fraction(0))
    return round(weighted / total_weight)  # Fraction rounds half to even


def aggregate_price(
    asset: Asset,
    samples: Iterable[PriceSample],
    weights: Mapping[str, Decimal],
    now: datetime,
    parameters: OracleParameters,
) -> PriceAggregate:
    """The aggregated price of `asset` at `now`, or PriceUnavailable."""
    if any(w <= 0 for w in weights.values()):
        raise ValueError("source weights must be positive")
    oldest_allowed = now - timedelta(seconds=parameters.window_seconds)
    newest_allowed = now + timedelta(seconds=parameters.max_clock_skew_seconds)
    # Future-dated samples are dropped first so that a bogus timestamp cannot shadow a source's real latest.
    latest = latest_per_source((s for s in samples if s.observed_at <= newest_allowed), asset, weights)
    fresh = [s for s in latest if oldest_allowed <= s.observed_at]
    required = parameters.min_sources
    if len(fresh) < required:
        reason = UnavailableReason.STALE if len(latest) >= required else UnavailableReason.TOO_FEW_SOURCES
        raise PriceUnavailable(
            asset,
            reason,
            f"{len(fresh)} source(s) reported within {parameters.window_seconds} s "
            f"({len(latest)} in all), {required} required",
        )
    kept: list[PriceSample] = fresh
    dropped: list[PriceSample] = []
    if len(fresh) >= parameters.outlier_min_samples:
        kept, dropped = split_outliers(fresh, parameters.iqr_factor)
        if len(kept) < required:
            raise PriceUnavailable(
                asset,
                UnavailableReason.TOO_FEW_SOURCES,
                f"sources disagree: {len(dropped)} of {len(fresh)} dropped as outliers, {required} required",
            )
    return PriceAggregate(
        asset=asset,
        price_usd8=weighted_mean_usd8(kept, weights),
        sources=tuple(s.source for s in kept),
        dropped_outliers=tuple(s.source for s in dropped),
        as_of=now,
        samples=tuple(kept),
    )
