"""Oracle service: weighted price sources, aggregation with outlier rejection, volatility, polling."""

from services.core.prices import (
    AggregatedPrice,
    Asset,
    PriceAggregate,
    PriceSample,
    PriceSourceError,
    PriceUnavailable,
    UnavailableReason,
)
from services.oracle.aggregation import aggregate_price
from services.oracle.parameters import OracleParameters
from services.oracle.polling import poll_once
from services.oracle.prices import to_usd8
from services.oracle.service import OracleService, RefreshReport
from services.oracle.sources import LocalPriceFeed, PriceSource, production_sources
from services.oracle.store import PriceSampleStore
from services.oracle.volatility import annualized_volatility_ppm

__all__ = [
    "AggregatedPrice",
    "Asset",
    "LocalPriceFeed",
    "OracleParameters",
    "OracleService",
    "PriceAggregate",
    "PriceSample",
    "PriceSampleStore",
    "PriceSource",
    "PriceSourceError",
    "PriceUnavailable",
    "RefreshReport",
    "UnavailableReason",
    "aggregate_price",
    "annualized_volatility_ppm",
    "poll_once",
    "production_sources",
    "to_usd8",
]
