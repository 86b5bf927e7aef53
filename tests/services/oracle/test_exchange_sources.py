"""Each exchange adapter against a real loopback HTTP server playing that exchange's response shape."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from services.oracle import Asset, PriceSourceError, poll_once, production_sources
from services.oracle.sources import (
    BinanceSource,
    BitstampSource,
    CoinbaseSource,
    CoinGeckoSource,
    GeminiSource,
    HttpTickerSource,
    KrakenSource,
    OkxSource,
)
from tests.services.oracle.loopback import LoopbackExchange, RecordedExchange, Reply

NOW = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)

KRAKEN_BTC = """{"error":[],"result":{"XXBTZUSD":{"a":["91250.10000","1","1.000"],"b":["91250.00000","2","2.000"],
"c":["91250.10000","0.00054800"],"v":["1234.56789012","2345.67890123"],"p":["91000.12345","90876.54321"],
"t":[23456,45678],"l":["90100.00000","89900.00000"],"h":["91500.00000","92000.00000"],"o":"90500.00000"}}}"""
KRAKEN_STX = """{"error":[],"result":{"STXUSD":{"a":["0.28470","500","500.000"],"b":["0.28450","300","300.000"],
"c":["0.28460","120.00000000"],"v":["81234.1","160123.9"],"p":["0.28312","0.28105"],"t":[412,801],
"l":["0.27810","0.27600"],"h":["0.28900","0.29100"],"o":"0.27950"}}}"""
BITSTAMP_BTC = """{"timestamp":"1764284400","open":"90512","high":"91600","low":"89877","last":"91240",
"volume":"1523.45678901","vwap":"90900","bid":"91239","ask":"91241","side":"0","open_24":"90312",
"percent_change_24":"1.03"}"""
OKX_BTC = """{"code":"0","msg":"","data":[{"instType":"SPOT","instId":"BTC-USDT","last":"91255.3","lastSz":"0.00012",
"askPx":"91255.4","askSz":"0.5","bidPx":"91255.3","bidSz":"1.2","open24h":"90450.1","high24h":"91700",
"low24h":"89800","volCcy24h":"512345678.9","vol24h":"5634.12","ts":"1764284400123","sodUtc0":"90800",
"sodUtc8":"90600.2"}]}"""
OKX_STX = OKX_BTC.replace("BTC-USDT", "STX-USDT").replace('"last":"91255.3"', '"last":"0.2849"')
GEMINI_BTC = """{"bid":"91230.00","ask":"91235.00","volume":{"BTC":"345.678","USD":"31534567.89",
"timestamp":1764284400000},"last":"91233.50"}"""

# adapter, asset, path, query, recorded body, expected usd8
CASES: list[tuple[type[HttpTickerSource], Asset, str, dict[str, str], str, int]] = [
    (CoinbaseSource, Asset.BTC_USD, "/v2/prices/BTC-USD/spot", {},
     '{"data":{"amount":"91234.565","base":"BTC","currency":"USD"}}', 9_123_456_500_000),
    (CoinbaseSource, Asset.STX_USD, "/v2/prices/STX-USD/spot", {},
     '{"data":{"amount":"0.2851","base":"STX","currency":"USD"}}', 28_510_000),
    (KrakenSource, Asset.BTC_USD, "/0/public/Ticker", {"pair": "XBTUSD"}, KRAKEN_BTC, 9_125_010_000_000),
    (KrakenSource, Asset.STX_USD, "/0/public/Ticker", {"pair": "STXUSD"}, KRAKEN_STX, 28_460_000),
    (BitstampSource, Asset.BTC_USD, "/api/v2/ticker/btcusd/", {}, BITSTAMP_BTC, 9_124_000_000_000),
    (BinanceSource, Asset.BTC_USD, "/api/v3/ticker/price", {"symbol": "BTCUSDT"},
     '{"symbol":"BTCUSDT","price":"91260.01000000"}', 9_126_001_000_000),
    (BinanceSource, Asset.STX_USD, "/api/v3/ticker/price", {"symbol": "STXUSDT"},
     '{"symbol":"STXUSDT","price":"0.28530000"}', 28_530_000),
    (OkxSource, Asset.BTC_USD, "/api/v5/market/ticker", {"instId": "BTC-USDT"}, OKX_BTC, 9_125_530_000_000),
    (OkxSource, Asset.STX_USD, "/api/v5/market/ticker", {"instId": "STX-USDT"}, OKX_STX, 28_490_000),
    (GeminiSource, Asset.BTC_USD, "/v1/pubticker/btcusd", {}, GEMINI_BTC, 9_123_350_000_000),
    (CoinGeckoSource, Asset.BTC_USD, "/api/v3/simple/price", {"ids": "bitcoin", "vs_currencies": "usd"},
     '{"bitcoin":{"usd":91238.12}}', 9_123_812_000_000),
    # A JSON number with more than 8 decimals: exact Decimal, then half-even (…345.6 → …346).
    (CoinGeckoSource, Asset.STX_USD, "/api/v3/simple/price", {"ids": "blockstack", "vs_currencies": "usd"},
     '{"blockstack":{"usd":0.285123456}}', 28_512_346),
]  # fmt: skip


def make(cls: type[HttpTickerSource], client: httpx.AsyncClient, loopback: LoopbackExchange) -> HttpTickerSource:
    return cls(client, base_url=loopback.base_url, clock=lambda: NOW)


@pytest.mark.parametrize(("cls", "asset", "path", "query", "body", "expected"), CASES)
async def test_recorded_ticker(
    cls: type[HttpTickerSource],
    asset: Asset,
    path: str,
    query: dict[str, str],
    body: str,
    expected: int,
    http: httpx.AsyncClient,
    loopback: LoopbackExchange,
    exchange: RecordedExchange,
) -> None:
    exchange.reply(path, Reply(body), query)
    sample = await make(cls, http, loopback).fetch(asset)
    assert (sample.source, sample.asset, sample.price_usd8, sample.observed_at) == (
        cls.default_name,
        asset,
        expected,
        NOW,
    )
    assert exchange.requests == [(path, query)]


ADAPTERS = sorted({case[0] for case in CASES}, key=lambda cls: cls.default_name)
BTC_PATHS = {case[0]: (case[2], case[3]) for case in CASES if case[1] is Asset.BTC_USD}


@pytest.mark.parametrize("cls", ADAPTERS)
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply("<html><body>502 Bad Gateway</body></html>", content_type="text/html"), "not valid JSON"),
        (Reply('{"unexpected": true}'), "unexpected shape"),
        (Reply("[1, 2, 3]"), "unexpected shape"),
        (Reply('{"message":"Internal error"}', status=500), "HTTP 500"),
        (Reply('{"code":-1003,"msg":"Too many requests"}', status=429), "HTTP 429"),
    ],
)
async def test_bad_responses_raise_price_source_error(
    cls: type[HttpTickerSource],
    reply: Reply,
    message: str,
    http: httpx.AsyncClient,
    loopback: LoopbackExchange,
    exchange: RecordedExchange,
) -> None:
    path, query = BTC_PATHS[cls]
    exchange.reply(path, reply, query)
    with pytest.raises(PriceSourceError, match=message):
        await make(cls, http, loopback).fetch(Asset.BTC_USD)


@pytest.mark.parametrize(
    ("cls", "body"),
    [
        (CoinbaseSource, '{"data":{"amount":"0.2851","base":"STX","currency":"USD"}}'),  # wrong pair
        (BinanceSource, '{"symbol":"ETHUSDT","price":"3012.1"}'),
        (OkxSource, '{"code":"51001","msg":"Instrument ID does not exist","data":[]}'),
        (KrakenSource, '{"error":["EQuery:Unknown asset pair"]}'),
        (CoinGeckoSource, '{"bitcoin":{"usd":"NaN"}}'),
        (CoinGeckoSource, '{"bitcoin":{"usd":NaN}}'),
        (GeminiSource, '{"last":"-5"}'),
        (BitstampSource, '{"last":"0"}'),
        (BitstampSource, '{"last":null}'),
    ],
)
async def test_well_formed_but_wrong_answers_are_refused(
    cls: type[HttpTickerSource],
    body: str,
    http: httpx.AsyncClient,
    loopback: LoopbackExchange,
    exchange: RecordedExchange,
) -> None:
    path, query = BTC_PATHS[cls]
    exchange.reply(path, Reply(body), query)
    with pytest.raises(PriceSourceError):
        await make(cls, http, loopback).fetch(Asset.BTC_USD)


@pytest.mark.parametrize("cls", [BitstampSource, GeminiSource])
async def test_unlisted_asset_is_refused_without_a_request(
    cls: type[HttpTickerSource], http: httpx.AsyncClient, loopback: LoopbackExchange, exchange: RecordedExchange
) -> None:
    source = make(cls, http, loopback)
    assert Asset.STX_USD not in source.assets
    with pytest.raises(PriceSourceError, match="does not list"):
        await source.fetch(Asset.STX_USD)
    assert exchange.requests == []


async def test_poll_tolerates_garbage_errors_and_timeouts(
    http: httpx.AsyncClient,
    loopback: LoopbackExchange,
    exchange: RecordedExchange,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for _cls, _asset, path, query, body, _ in CASES:
        exchange.reply(path, Reply(body), query)
    exchange.reply("/v1/pubticker/btcusd", Reply(GEMINI_BTC, delay=0.6), {})  # too slow
    exchange.reply("/api/v2/ticker/btcusd/", Reply("garbage{"), {})
    exchange.reply("/v2/prices/STX-USD/spot", Reply("{}", status=500), {})
    sources = production_sources(http, base_urls=dict.fromkeys(ADAPTERS_BY_NAME, loopback.base_url), clock=lambda: NOW)
    with caplog.at_level(logging.WARNING, logger="services.oracle.polling"):
        samples = await poll_once(sources, [Asset.BTC_USD, Asset.STX_USD], timeout_seconds=0.2)
    got = {(s.source, s.asset) for s in samples}
    expected = {(cls.default_name, asset) for cls, asset, *_ in CASES} - {
        ("gemini", Asset.BTC_USD),
        ("bitstamp", Asset.BTC_USD),
        ("coinbase", Asset.STX_USD),
    }
    assert got == expected
    logged = caplog.text
    assert "gemini timed out for BTC-USD" in logged
    assert "bitstamp failed for BTC-USD" in logged
    assert "coinbase failed for STX-USD" in logged


ADAPTERS_BY_NAME = [cls.default_name for cls in ADAPTERS]


def test_production_sources_configuration(http: httpx.AsyncClient) -> None:
    sources = production_sources(http, enabled=("kraken", "coinbase"), weights={"kraken": 2})
    assert [(s.name, s.weight) for s in sources] == [("kraken", Decimal(2)), ("coinbase", Decimal(1))]
    assert "https://api.kraken.com" in repr(sources[0])
    with pytest.raises(ValueError, match="unknown price sources: ftx"):
        production_sources(http, enabled=("ftx",))
    with pytest.raises(ValueError):
        production_sources(http, weights={"kraken": 0})
    assert {s.name for s in production_sources(http)} == {
        "coinbase", "kraken", "bitstamp", "binance", "okx", "gemini", "coingecko",
    }  # fmt: skip


async def test_connection_refused_is_skipped(http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    source = KrakenSource(http, base_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(httpx.ConnectError):
        await source.fetch(Asset.BTC_USD)
    with caplog.at_level(logging.WARNING, logger="services.oracle.polling"):
        assert await poll_once([source], [Asset.BTC_USD], timeout_seconds=1.0) == []
    assert "kraken failed for BTC-USD: ConnectError" in caplog.text
