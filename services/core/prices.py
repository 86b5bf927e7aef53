"""Price value types: assets, source samples, aggregates and the typed "no price" error (the oracle computes them,
the store keeps them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Asset(StrEnum):
    BTC_USD = "BTC-USD"
    STX_USD = "STX-USD"


class PriceSourceError(Exception):
    """A source could not deliver a price (HTTP error, unexpected payload, unsupported asset, no price set)."""


@dataclass(frozen=True, slots=True)
class PriceSample:
    """One source's price of one asset, in USD × 1e8, at a timezone-aware instant."""

    source: str
    asset: Asset
    price_usd8: int
    observed_at: datetime

    def __post_init__(self) -> None:
        if isinstance(self.price_usd8, bool) or not isinstance(self.price_usd8, int) or self.price_usd8 <= 0:
            raise ValueError("price_usd8 must be a positive integer")
        if self.observed_at.tzinfo is None:
            raise ValueError("observed_at must be timezone-aware")
        if not self.source:
            raise ValueError("source must be named")


@dataclass(frozen=True, slots=True)
class PriceAggregate:
    """The weighted mean of the fresh per-source samples (before volatility is attached)."""

    asset: Asset
    price_usd8: int
    sources: tuple[str, ...]  # sources whose samples made the mean, sorted by name
    dropped_outliers: tuple[str, ...]  # fresh sources dropped by the 1.5 × IQR rule, sorted by name
    as_of: datetime  # when the aggregate was computed; every sample used is within the window before it
    samples: tuple[PriceSample, ...]  # the samples used, for the policy's oracle snapshot


@dataclass(frozen=True, slots=True)
class AggregatedPrice:
    """What `OracleService.latest_price` returns: the aggregate plus the annualized volatility."""

    asset: Asset
    price_usd8: int
    sources: tuple[str, ...]
    dropped_outliers: tuple[str, ...]
    as_of: datetime
    volatility_ppm: int  # annualized, 0.30 = 300_000
    volatility_from_history: bool  # False when the fallback volatility was used
    samples: tuple[PriceSample, ...]


class UnavailableReason(StrEnum):
    STALE = "stale"  # enough sources reported, but not within the window
    TOO_FEW_SOURCES = "too_few_sources"  # fewer sources than required, even counting old samples


class PriceUnavailable(Exception):
    """No trustworthy price for an asset right now (GraphQL: ORACLE_UNAVAILABLE)."""

    def __init__(self, asset: Asset, reason: UnavailableReason, detail: str) -> None:
        super().__init__(f"{asset.value} price unavailable ({reason.value}): {detail}")
        self.asset = asset
        self.reason = reason
        self.detail = detail
