"""Production adapters for public exchange tickers (no API keys). Response shapes as the exchanges publish them.

USDT-quoted markets (Binance, OKX) stand in for USD: their USD quote is what liquidity exists for STX, and a
stablecoin de-peg shows up as a disagreement that the IQR outlier rule and the weighted mean absorb.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from services.core.prices import Asset, PriceSourceError
from services.oracle.sources.base import Clock, HttpTickerSource, utc_now


class CoinbaseSource(HttpTickerSource):
    """`GET /v2/prices/BTC-USD/spot` → {"data": {"amount": "67012.34", "base": "BTC", "currency": "USD"}}."""

    default_name = "coinbase"
    default_base_url = "https://api.coinbase.com"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "BTC-USD", Asset.STX_USD: "STX-USD"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return f"/v2/prices/{symbol}/spot", {}

    def read_price(self, symbol: str, payload: Any) -> object:
        data = payload["data"]
        if f"{data['base']}-{data['currency']}" != symbol:
            raise PriceSourceError(f"coinbase answered for {data['base']}-{data['currency']}, not {symbol}")
        return data["amount"]


class KrakenSource(HttpTickerSource):
    """`GET /0/public/Ticker?pair=XBTUSD` → {"error": [], "result": {"XXBTZUSD": {"c": ["67012.3", "0.01"], …}}}.

    The result key is Kraken's internal pair name (XXBTZUSD for XBTUSD), so the single entry is taken; "c" is
    the last trade [price, lot volume].
    """

    default_name = "kraken"
    default_base_url = "https://api.kraken.com"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "XBTUSD", Asset.STX_USD: "STXUSD"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return "/0/public/Ticker", {"pair": symbol}

    def read_price(self, symbol: str, payload: Any) -> object:
        if payload["error"]:
            raise PriceSourceError(f"kraken reported {payload['error']!r:.200}")
        result = payload["result"]
        if len(result) != 1:
            raise PriceSourceError("kraken returned other than one pair")
        (ticker,) = result.values()
        return ticker["c"][0]


class BitstampSource(HttpTickerSource):
    """`GET /api/v2/ticker/btcusd/` → {"last": "67012", "timestamp": "1764280000", …}. BTC only."""

    default_name = "bitstamp"
    default_base_url = "https://www.bitstamp.net"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "btcusd"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return f"/api/v2/ticker/{symbol}/", {}

    def read_price(self, symbol: str, payload: Any) -> object:
        return payload["last"]


class BinanceSource(HttpTickerSource):
    """`GET /api/v3/ticker/price?symbol=BTCUSDT` → {"symbol": "BTCUSDT", "price": "67012.34000000"}."""

    default_name = "binance"
    default_base_url = "https://api.binance.com"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "BTCUSDT", Asset.STX_USD: "STXUSDT"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return "/api/v3/ticker/price", {"symbol": symbol}

    def read_price(self, symbol: str, payload: Any) -> object:
        if payload["symbol"] != symbol:
            raise PriceSourceError(f"binance answered for {payload['symbol']!r:.40}, not {symbol}")
        return payload["price"]


class OkxSource(HttpTickerSource):
    """`GET /api/v5/market/ticker?instId=BTC-USDT` → {"code": "0", "msg": "", "data": [{"instId", "last", …}]}."""

    default_name = "okx"
    default_base_url = "https://www.okx.com"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "BTC-USDT", Asset.STX_USD: "STX-USDT"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return "/api/v5/market/ticker", {"instId": symbol}

    def read_price(self, symbol: str, payload: Any) -> object:
        if payload["code"] != "0":
            raise PriceSourceError(f"okx error code {payload['code']!r:.40}")
        (ticker,) = payload["data"]
        if ticker["instId"] != symbol:
            raise PriceSourceError(f"okx answered for {ticker['instId']!r:.40}, not {symbol}")
        return ticker["last"]


class GeminiSource(HttpTickerSource):
    """`GET /v1/pubticker/btcusd` → {"bid": …, "ask": …, "volume": {…, "timestamp": …}, "last": "67012.34"}."""

    default_name = "gemini"
    default_base_url = "https://api.gemini.com"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "btcusd"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return f"/v1/pubticker/{symbol}", {}

    def read_price(self, symbol: str, payload: Any) -> object:
        return payload["last"]


class CoinGeckoSource(HttpTickerSource):
    """`GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd` → {"bitcoin": {"usd": 67012.34}}.

    The price is a JSON number; it is decoded as an exact Decimal, never as a float.
    """

    default_name = "coingecko"
    default_base_url = "https://api.coingecko.com"
    symbols: ClassVar[Mapping[Asset, str]] = {Asset.BTC_USD: "bitcoin", Asset.STX_USD: "blockstack"}

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        return "/api/v3/simple/price", {"ids": symbol, "vs_currencies": "usd"}

    def read_price(self, symbol: str, payload: Any) -> object:
        return payload[symbol]["usd"]


ADAPTERS: dict[str, type[HttpTickerSource]] = {
    cls.default_name: cls
    for cls in (
        CoinbaseSource,
        KrakenSource,
        BitstampSource,
        BinanceSource,
        OkxSource,
        GeminiSource,
        CoinGeckoSource,
    )
}


def production_sources(
    client: httpx.AsyncClient,
    *,
    enabled: tuple[str, ...] | None = None,
    base_urls: Mapping[str, str] | None = None,
    weights: Mapping[str, Decimal | int] | None = None,
    clock: Clock = utc_now,
) -> list[HttpTickerSource]:
    """The exchange adapters named in `enabled` (all by default), with optional base URL and weight overrides."""
    names = enabled if enabled is not None else tuple(ADAPTERS)
    unknown = sorted(set(names) - set(ADAPTERS)) + sorted(set(base_urls or {}) - set(ADAPTERS))
    if unknown:
        raise ValueError(f"unknown price sources: {', '.join(unknown)}; known: {', '.join(ADAPTERS)}")
    return [
        ADAPTERS[name](
            client,
            base_url=(base_urls or {}).get(name),
            weight=(weights or {}).get(name, 1),
            clock=clock,
        )
        for name in names
    ]
