"""Quotes: validate the buyer's parameters, price them from the oracle, check the tier can cover them.

A quote is a priced preview (stored in `quotes` for a day so `requestPolicyCreation` can lock its numbers in while
it is valid). It reserves nothing and is not signed: the binding, signed quote is issued by policy creation for an
authenticated owner (see `creation.py`), which is also when collateral is reserved — so anonymous quote traffic
cannot tie up pool capital.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.core.errors import BadInput, Conflict, InsufficientCapacity, NotFound
from services.core.input_bounds import QUOTE_ID, bounded
from services.core.models import OracleSnapshot, PolicyType, RiskTier
from services.liquidity import LiquidityService
from services.oracle import AggregatedPrice, Asset, OracleService
from services.premium import PremiumInputs, PremiumParameters, calculate_premium, resolve_tier
from services.store.mongo import MongoStore
from services.store.quotes import QuoteRepository

SATS_PER_BTC = 100_000_000
_QUOTE_ID = re.compile(r"(0x)?[0-9a-fA-F]{32}")
PPM = 1_000_000


class BurnHeightSource(Protocol):
    async def burn_height(self) -> int: ...


@dataclass(frozen=True)
class QuoteLimits:
    """DESIGN §7's validation ranges and the chain timing used to place heights."""

    min_amount_sats: int = 10_000  # 0.0001 BTC
    max_amount_sats: int = 100 * SATS_PER_BTC
    min_strike_ppm: int = 500_000  # 50% of spot
    max_strike_ppm: int = 1_500_000  # 150% of spot
    min_duration_days: int = 1
    max_duration_days: int = 365
    burn_blocks_per_day: int = 144  # Bitcoin: one block every ~10 minutes
    quote_ttl_burn_blocks: int = 6  # a signed quote stays valid this many burn blocks (~1 hour on Bitcoin)


@dataclass(frozen=True)
class PolicyParameters:
    policy_type: str
    protected_amount_sats: int
    protected_value_usd8: int
    duration_days: int
    risk_tier: RiskTier | None = None


@dataclass(frozen=True)
class Quote:
    quote_id: str  # 32 lowercase hex characters: the contract's (buff 16)
    parameters: PolicyParameters
    tier: RiskTier
    premium_usd8: int
    premium_ustx: int
    collateral_ustx: int
    break_even_usd8: int
    btc_usd8: int
    stx_usd8: int
    volatility_ppm: int
    volatility_from_history: bool
    price_sources: tuple[str, ...]
    priced_at: datetime
    burn_height: int  # the chain's burn height when priced
    expiration_height: int
    expiration_time_estimate: datetime
    quote_expiry_height: int
    quote_expires_at: datetime  # estimate from the burn block time

    def snapshot(self) -> OracleSnapshot:
        return OracleSnapshot(
            btc_usd8=self.btc_usd8,
            stx_usd8=self.stx_usd8,
            volatility_ppm=self.volatility_ppm,
            sources=list(self.price_sources),
            as_of=self.priced_at,
        )


def check_quote_id(quote_id: str) -> None:
    bounded(quote_id, "quoteId", QUOTE_ID)
    if not _QUOTE_ID.fullmatch(quote_id):
        raise BadInput("quoteId must be a quote id: 32 hex characters", field="quoteId")


def validate_parameters(params: PolicyParameters, limits: QuoteLimits) -> None:
    """Everything that can be checked without a price; BAD_INPUT names the field and the allowed range."""
    if params.policy_type != PolicyType.PUT.value:
        raise BadInput("policyType must be PUT (the only policy type offered)", field="policyType", allowed=["PUT"])
    if not limits.min_amount_sats <= params.protected_amount_sats <= limits.max_amount_sats:
        raise BadInput(
            f"protectedAmountSats must be between {limits.min_amount_sats} and {limits.max_amount_sats} "
            "(0.0001 to 100 BTC)",
            field="protectedAmountSats",
            min=str(limits.min_amount_sats),
            max=str(limits.max_amount_sats),
        )
    if params.protected_value_usd8 <= 0:
        raise BadInput("protectedValueUsd8 must be a positive strike price in USD x 1e8", field="protectedValueUsd8")
    if not limits.min_duration_days <= params.duration_days <= limits.max_duration_days:
        raise BadInput(
            f"durationDays must be between {limits.min_duration_days} and {limits.max_duration_days}",
            field="durationDays",
            min=limits.min_duration_days,
            max=limits.max_duration_days,
        )


def validate_strike(params: PolicyParameters, spot_usd8: int, limits: QuoteLimits) -> None:
    low = -(-spot_usd8 * limits.min_strike_ppm // PPM)  # the range's ends, rounded inwards
    high = spot_usd8 * limits.max_strike_ppm // PPM
    if not low <= params.protected_value_usd8 <= high:
        raise BadInput(
            f"protectedValueUsd8 must be between {low} and {high} (50% to 150% of the BTC price {spot_usd8})",
            field="protectedValueUsd8",
            min=str(low),
            max=str(high),
            spotUsd8=str(spot_usd8),
        )


class QuoteService:
    def __init__(
        self,
        store: MongoStore,
        oracle: OracleService,
        liquidity: LiquidityService,
        chain: BurnHeightSource,
        premium: PremiumParameters,
        limits: QuoteLimits,
        burn_block_seconds: float = 600.0,
    ) -> None:
        self._quotes = QuoteRepository(store)
        self._oracle = oracle
        self._liquidity = liquidity
        self._chain = chain
        self._premium = premium
        self.limits = limits
        self._burn_block_seconds = burn_block_seconds

    async def prices(self) -> tuple[AggregatedPrice, AggregatedPrice]:
        return await self._oracle.latest_price(Asset.BTC_USD), await self._oracle.latest_price(Asset.STX_USD)

    async def quote(self, params: PolicyParameters, store: bool = True) -> Quote:
        validate_parameters(params, self.limits)
        btc, stx = await self.prices()
        validate_strike(params, btc.price_usd8, self.limits)
        tier = resolve_tier(btc.price_usd8, params.protected_value_usd8, params.risk_tier, self._premium)
        priced = calculate_premium(
            PremiumInputs(
                spot_usd8=btc.price_usd8,
                strike_usd8=params.protected_value_usd8,
                amount_sats=params.protected_amount_sats,
                duration_days=params.duration_days,
                stx_usd8=stx.price_usd8,
                volatility_ppm=btc.volatility_ppm,
                tier=tier,
            ),
            self._premium,
        )
        burn_height = await self.burn_height()
        now = now_utc()
        ttl = self.limits.quote_ttl_burn_blocks
        quote = Quote(
            quote_id=secrets.token_hex(16),
            parameters=params,
            tier=priced.tier,
            premium_usd8=priced.premium_usd8,
            premium_ustx=priced.premium_ustx,
            collateral_ustx=priced.collateral_ustx,
            break_even_usd8=priced.break_even_usd8,
            btc_usd8=btc.price_usd8,
            stx_usd8=stx.price_usd8,
            volatility_ppm=btc.volatility_ppm,
            volatility_from_history=btc.volatility_from_history,
            price_sources=tuple(sorted(set(btc.sources) | set(stx.sources))),
            priced_at=now,
            burn_height=burn_height,
            expiration_height=burn_height + params.duration_days * self.limits.burn_blocks_per_day,
            expiration_time_estimate=now + timedelta(days=params.duration_days),
            quote_expiry_height=burn_height + ttl,
            quote_expires_at=now + timedelta(seconds=ttl * self._burn_block_seconds),
        )
        available = await self._liquidity.tier_availability(quote.tier, burn_height)
        if available.available_ustx < quote.collateral_ustx:
            raise InsufficientCapacity(
                f"the {quote.tier.value} tier has {available.available_ustx} uSTX free, "
                f"this policy needs {quote.collateral_ustx} uSTX of collateral",
                tier=quote.tier.value,
                availableUstx=str(available.available_ustx),
                requiredUstx=str(quote.collateral_ustx),
            )
        if store:  # a preview: kept a day (TTL on `expires_at`) so creation can lock its numbers in
            doc = {"_id": quote.quote_id, **_to_doc(quote), "expires_at": quote.quote_expires_at}
            await self._quotes.insert(doc)
        return quote

    async def save(self, quote: Quote, used_by: str, session: AsyncClientSession | None = None) -> None:
        """Keep a binding quote with the policy it created (no `expires_at`: never cleaned up)."""
        await self._quotes.insert({"_id": quote.quote_id, **_to_doc(quote), "used_by": used_by}, session)

    async def claim(self, quote_id: str, policy_id: str, session: AsyncClientSession) -> None:
        """Bind a stored preview to the policy it creates, for good; CONFLICT if a policy already used it."""
        if not await self._quotes.claim(quote_id, policy_id, session):
            raise Conflict("this quote was already used for a policy; request a new quote", quoteId=quote_id)

    async def burn_height(self) -> int:
        return await self._chain.burn_height()

    async def load(self, quote_id: str) -> Quote:
        check_quote_id(quote_id)
        doc = await self._quotes.get(quote_id.lower().removeprefix("0x"))
        if doc is None:
            raise NotFound(f"quote {quote_id} does not exist (quotes are kept for a day)", quoteId=quote_id)
        return _from_doc(doc)


def _to_doc(quote: Quote) -> dict[str, Any]:
    doc = asdict(quote)
    doc["tier"] = quote.tier.value
    doc["price_sources"] = list(quote.price_sources)
    doc["parameters"]["risk_tier"] = quote.parameters.risk_tier.value if quote.parameters.risk_tier else None
    return doc


def _from_doc(doc: dict[str, Any]) -> Quote:
    fields = {k: v for k, v in doc.items() if k not in {"_id", "expires_at", "used_by"}}
    p = fields.pop("parameters")
    params = PolicyParameters(**{**p, "risk_tier": RiskTier(p["risk_tier"]) if p["risk_tier"] else None})
    return Quote(
        **{
            **fields,
            "parameters": params,
            "tier": RiskTier(fields["tier"]),
            "price_sources": tuple(fields["price_sources"]),
        }
    )
