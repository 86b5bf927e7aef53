"""Oracle parameters with the design's defaults (DESIGN §7 "Oracle"); settings construct this object."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from services.core.prices import Asset


@dataclass(frozen=True, slots=True)
class OracleParameters:
    """window_seconds: samples older than this are not used (15 minutes).
    min_sources: fewer fresh sources than this and the price is unavailable.
    outlier_min_samples: the 1.5 × IQR rule applies from this many fresh samples on.
    iqr_factor: the 1.5 of the rule.
    max_clock_skew_seconds: samples dated further in the future than this are ignored.
    stale_lookback_seconds: how far back the service looks to tell "stale" from "too few sources".
    volatility_days: daily log returns used (30); needs volatility_days + 1 closes.
    min_volatility_returns: fewer daily returns than this → fallback volatility.
    fallback_volatility_ppm: 0.30 annualized.
    min_volatility_ppm: floor so that a flat history (e.g. a constant local feed) never yields σ = 0, which
        Black-Scholes cannot price; 1% annualized is far below anything BTC or STX have shown.
    days_per_year: annualization factor √365 (crypto trades every day).
    fetch_timeout_seconds: per-source, per-asset timeout of one poll.
    assets: what `OracleService.refresh` polls.
    """

    window_seconds: int = 15 * 60
    min_sources: int = 3
    outlier_min_samples: int = 4
    iqr_factor: Decimal = Decimal("1.5")
    max_clock_skew_seconds: int = 60
    stale_lookback_seconds: int = 24 * 60 * 60
    volatility_days: int = 30
    min_volatility_returns: int = 7
    fallback_volatility_ppm: int = 300_000
    min_volatility_ppm: int = 10_000
    days_per_year: int = 365
    fetch_timeout_seconds: float = 5.0
    assets: tuple[Asset, ...] = field(default=(Asset.BTC_USD, Asset.STX_USD))

    def __post_init__(self) -> None:
        positive_ints = (
            "window_seconds",
            "min_sources",
            "outlier_min_samples",
            "stale_lookback_seconds",
            "volatility_days",
            "fallback_volatility_ppm",
            "min_volatility_ppm",
            "days_per_year",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer")
        if not isinstance(self.max_clock_skew_seconds, int) or self.max_clock_skew_seconds < 0:
            raise ValueError("max_clock_skew_seconds must be a non-negative integer")
        if not isinstance(self.min_volatility_returns, int) or self.min_volatility_returns < 2:
            raise ValueError("min_volatility_returns must be at least 2 (a sample stdev needs two returns)")
        if not isinstance(self.iqr_factor, Decimal) or not self.iqr_factor.is_finite() or self.iqr_factor < 0:
            raise ValueError("iqr_factor must be a non-negative Decimal")
        if not self.fetch_timeout_seconds > 0:
            raise ValueError("fetch_timeout_seconds must be positive")
        if self.stale_lookback_seconds < self.window_seconds:
            raise ValueError("stale_lookback_seconds must not be shorter than window_seconds")
