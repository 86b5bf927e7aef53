"""Market data: aggregated prices, tier availability, and the operator's local price control."""

from __future__ import annotations

from resolvers.context import Info
from resolvers.permissions import require_operator
from schema.creation_types import Price, TierAvailability
from schema.scalars import BigInt
from services.core.errors import BadInput, ChainUnavailable, Forbidden
from services.oracle import Asset


async def latest_price(info: Info, asset: Asset) -> Price:
    return Price.from_data(await info.context.services.oracle.latest_price(asset))


async def tier_availability(info: Info) -> list[TierAvailability]:
    services = info.context.services
    if services.tip is None:
        raise ChainUnavailable("tier availability needs the chain's burn height: no STACKS_API_URL configured")
    rows = await services.liquidity.availability(await services.tip.burn_height())
    return [TierAvailability.from_data(row) for row in rows]


async def set_local_price(info: Info, asset: Asset, price_usd8: BigInt) -> Price:
    require_operator(info)
    services = info.context.services
    if services.local_prices is None:
        raise Forbidden("the local price feed is not configured (ORACLE_SOURCES is not 'local')")
    if int(price_usd8) <= 0:
        raise BadInput("priceUsd8 must be a positive price in USD x 1e8", field="priceUsd8")
    await services.local_prices.set_price(asset, int(price_usd8))
    await services.oracle.refresh()  # sample the new price now rather than at the next poll
    return Price.from_data(await services.oracle.latest_price(asset))
