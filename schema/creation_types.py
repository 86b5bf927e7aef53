"""Types of the creation flow: parameters, quotes, the prepared wallet call, tier availability, prices."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from schema.enums import PolicyType, RiskTier
from schema.policy_types import Policy
from schema.scalars import BigInt
from services.chain.transactions import PreparedContractCall as PreparedCall
from services.chain.transactions import post_condition_to_hex
from services.liquidity import TierAvailability as TierAvailabilityData
from services.oracle import AggregatedPrice, Asset
from services.policies.quotes import PolicyParameters
from services.policies.quotes import Quote as QuoteData

strawberry.enum(Asset, description="A price the oracle aggregates.")


@strawberry.input(description="What the buyer wants to protect (DESIGN §7 ranges apply).")
class PolicyParametersInput:
    policy_type: PolicyType = PolicyType.PUT
    protected_amount_sats: BigInt = strawberry.field(description="BTC to protect, in satoshis (0.0001-100 BTC).")
    protected_value_usd8: BigInt = strawberry.field(
        description="Strike price in USD x 1e8 (50%-150% of the BTC price)."
    )
    duration_days: int = strawberry.field(description="1 to 365 days.")
    risk_tier: RiskTier | None = strawberry.field(
        default=None, description="Optional; must equal the tier the strike/spot ratio selects."
    )

    def to_parameters(self) -> PolicyParameters:
        return PolicyParameters(
            self.policy_type.value,
            int(self.protected_amount_sats),
            int(self.protected_value_usd8),
            self.duration_days,
            self.risk_tier,
        )


@strawberry.type(description="A priced policy: premium, collateral, tier, heights and the prices used.")
class Quote:
    quote_id: str = strawberry.field(description="32 hex characters; pass to requestPolicyCreation to lock it in.")
    policy_type: PolicyType
    protected_amount_sats: BigInt
    protected_value_usd8: BigInt
    duration_days: int
    risk_tier: RiskTier
    premium_usd8: BigInt
    premium_ustx: BigInt
    collateral_ustx: BigInt
    break_even_usd8: BigInt = strawberry.field(description="BTC price at which the protection pays its premium back.")
    btc_price_usd8: BigInt
    stx_price_usd8: BigInt
    volatility_ppm: int
    volatility_from_history: bool
    price_sources: list[str]
    priced_at: datetime
    expiration_height: int
    expiration_time_estimate: datetime
    quote_expiry_height: int = strawberry.field(description="Burn height after which the chain refuses the quote.")
    quote_expires_at: datetime = strawberry.field(description="Estimate of when quoteExpiryHeight is reached.")

    @classmethod
    def from_data(cls, q: QuoteData) -> Quote:
        p = q.parameters
        return cls(
            quote_id=q.quote_id,
            policy_type=PolicyType(p.policy_type),
            protected_amount_sats=BigInt(p.protected_amount_sats),
            protected_value_usd8=BigInt(p.protected_value_usd8),
            duration_days=p.duration_days,
            risk_tier=q.tier,
            premium_usd8=BigInt(q.premium_usd8),
            premium_ustx=BigInt(q.premium_ustx),
            collateral_ustx=BigInt(q.collateral_ustx),
            break_even_usd8=BigInt(q.break_even_usd8),
            btc_price_usd8=BigInt(q.btc_usd8),
            stx_price_usd8=BigInt(q.stx_usd8),
            volatility_ppm=q.volatility_ppm,
            volatility_from_history=q.volatility_from_history,
            price_sources=list(q.price_sources),
            priced_at=q.priced_at,
            expiration_height=q.expiration_height,
            expiration_time_estimate=q.expiration_time_estimate,
            quote_expiry_height=q.quote_expiry_height,
            quote_expires_at=q.quote_expires_at,
        )


@strawberry.type(description="A contract call ready for @stacks/connect's openContractCall or makeContractCall.")
class PreparedContractCall:
    contract_address: str
    contract_name: str
    function_name: str
    function_args: list[str] = strawberry.field(description="Clarity values, hex (0x…), in argument order.")
    post_conditions: JSON = strawberry.field(description="@stacks/transactions v7 post-condition objects.")
    post_conditions_hex: list[str] = strawberry.field(description="The same post-conditions in wire form, hex.")
    post_condition_mode: str = strawberry.field(description='"deny": no STX may move beyond the post-conditions.')
    network: str

    @classmethod
    def from_call(cls, call: PreparedCall) -> PreparedContractCall:
        wallet = call.to_wallet_json()
        return cls(
            contract_address=wallet["contractAddress"],
            contract_name=wallet["contractName"],
            function_name=wallet["functionName"],
            function_args=wallet["functionArgs"],
            post_conditions=JSON(wallet["postConditions"]),
            post_conditions_hex=[post_condition_to_hex(pc) for pc in call.post_conditions],
            post_condition_mode=wallet["postConditionMode"],
            network=wallet["network"],
        )


@strawberry.type(description="A PendingCreation policy, its signed quote and the call for the wallet to sign.")
class PolicyCreation:
    policy: Policy
    quote: Quote
    transaction: PreparedContractCall
    repeated: bool = strawberry.field(description="True when this idempotency key was seen before.")


@strawberry.type(description="A liquidity tier: capital and locked collateral (from the vault), reservations.")
class TierAvailability:
    tier: RiskTier
    capital_ustx: BigInt
    locked_ustx: BigInt
    reserved_ustx: BigInt = strawberry.field(description="Collateral promised to signed quotes not yet on chain.")
    available_ustx: BigInt
    updated_at: datetime | None

    @classmethod
    def from_data(cls, t: TierAvailabilityData) -> TierAvailability:
        return cls(
            tier=t.tier,
            capital_ustx=BigInt(t.capital_ustx),
            locked_ustx=BigInt(t.locked_ustx),
            reserved_ustx=BigInt(t.reserved_ustx),
            available_ustx=BigInt(t.available_ustx),
            updated_at=t.updated_at,
        )


@strawberry.type(description="An aggregated price with the annualized volatility the premium uses.")
class Price:
    asset: Asset
    price_usd8: BigInt
    sources: list[str]
    dropped_outliers: list[str]
    as_of: datetime
    volatility_ppm: int
    volatility_from_history: bool

    @classmethod
    def from_data(cls, p: AggregatedPrice) -> Price:
        return cls(
            asset=p.asset,
            price_usd8=BigInt(p.price_usd8),
            sources=list(p.sources),
            dropped_outliers=list(p.dropped_outliers),
            as_of=p.as_of,
            volatility_ppm=p.volatility_ppm,
            volatility_from_history=p.volatility_from_history,
        )
