"""Price sources: the `PriceSource` protocol, exchange ticker adapters and the local deterministic feed."""

from services.oracle.sources.base import HttpTickerSource, PriceSource, utc_now
from services.oracle.sources.exchanges import (
    ADAPTERS,
    BinanceSource,
    BitstampSource,
    CoinbaseSource,
    CoinGeckoSource,
    GeminiSource,
    KrakenSource,
    OkxSource,
    production_sources,
)
from services.oracle.sources.local import LocalPriceFeed, LocalPriceSource

__all__ = [
    "ADAPTERS",
    "BinanceSource",
    "BitstampSource",
    "CoinGeckoSource",
    "CoinbaseSource",
    "GeminiSource",
    "HttpTickerSource",
    "KrakenSource",
    "LocalPriceFeed",
    "LocalPriceSource",
    "OkxSource",
    "PriceSource",
    "production_sources",
    "utc_now",
]
