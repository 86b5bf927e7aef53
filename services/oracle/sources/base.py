"""The price source interface and the shared machinery of HTTP ticker adapters."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from services.core.prices import Asset, PriceSample, PriceSourceError
from services.oracle.prices import to_usd8

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@runtime_checkable
class PriceSource(Protocol):
    """A weighted price source. `fetch` raises (PriceSourceError, httpx errors, timeouts) instead of guessing."""

    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> Decimal: ...

    @property
    def assets(self) -> frozenset[Asset]: ...

    async def fetch(self, asset: Asset) -> PriceSample: ...


def check_weight(weight: Decimal | int) -> Decimal:
    value = Decimal(weight)
    if not value.is_finite() or value <= 0:
        raise ValueError("a source weight must be a positive finite number")
    return value


def _reject_constant(name: str) -> Any:
    raise PriceSourceError(f"non-finite number {name} in payload")


def parse_json(content: bytes) -> Any:
    """JSON with every non-integer number as an exact Decimal (never float) and NaN/Infinity refused."""
    try:
        return json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PriceSourceError("response is not valid JSON") from exc


class HttpTickerSource:
    """A public exchange ticker fetched with a shared httpx client.

    Subclasses give the default name and base URL, the per-asset symbol table (which also says which assets the
    exchange lists), the request for an asset and how to read the price from the payload. The observation time is
    the local receive time: several tickers carry no timestamp, and the window rule is about what we saw when.
    """

    default_name: ClassVar[str]
    default_base_url: ClassVar[str]
    symbols: ClassVar[Mapping[Asset, str]]

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str | None = None,
        weight: Decimal | int = 1,
        name: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._client = client
        self._base_url = (base_url or self.default_base_url).rstrip("/")
        self._weight = check_weight(weight)
        self._name = name or self.default_name
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    @property
    def weight(self) -> Decimal:
        return self._weight

    @property
    def assets(self) -> frozenset[Asset]:
        return frozenset(self.symbols)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, base_url={self._base_url!r}, weight={self._weight})"

    def request(self, symbol: str) -> tuple[str, dict[str, str]]:
        """(path, query parameters) of the ticker request for an exchange symbol."""
        raise NotImplementedError

    def read_price(self, symbol: str, payload: Any) -> object:
        """The price value (decimal text or Decimal) out of the decoded payload; KeyError etc. mean garbage."""
        raise NotImplementedError

    async def fetch(self, asset: Asset) -> PriceSample:
        symbol = self.symbols.get(asset)
        if symbol is None:
            raise PriceSourceError(f"{self._name} does not list {asset.value}")
        path, params = self.request(symbol)
        response = await self._client.get(self._base_url + path, params=params)
        if response.status_code != 200:
            raise PriceSourceError(f"{self._name} answered HTTP {response.status_code}")
        payload = parse_json(response.content)
        try:
            value = self.read_price(symbol, payload)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PriceSourceError(f"{self._name} payload has an unexpected shape") from exc
        return PriceSample(source=self._name, asset=asset, price_usd8=to_usd8(value), observed_at=self._clock())
