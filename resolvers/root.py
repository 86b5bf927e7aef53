"""The root types: every operation of the API, wired to its resolver."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from resolvers import auth as auth_resolvers
from resolvers import chain_status as chain_resolvers
from resolvers import creation as creation_resolvers
from resolvers import lifecycle as lifecycle_resolvers
from resolvers import market as market_resolvers
from resolvers import policies as policy_resolvers
from resolvers import subscriptions as subscription_resolvers
from schema.auth_types import AuthChallenge, AuthPayload, SessionInfo
from schema.chain_types import ChainStatus
from schema.creation_types import PolicyCreation, Price, Quote, TierAvailability
from schema.lifecycle_types import ExpirationCheck
from schema.policy_types import Policy, PolicyConnection, PolicyEvent, PolicyStats
from schema.subscription_types import ChainTip


@strawberry.type
class Query:
    policy: Policy | None = strawberry.field(
        resolver=policy_resolvers.policy, description="A policy by its off-chain id."
    )
    policy_by_onchain_id: Policy | None = strawberry.field(
        resolver=policy_resolvers.policy_by_onchain_id,
        name="policyByOnChainId",
        description="A policy by the registry contract's id.",
    )
    policies: PolicyConnection = strawberry.field(
        resolver=policy_resolvers.policies,
        description="Policies, filtered, in `orderBy` (newest first by default). Page forwards with first/after or "
        "backwards with last/before; page sizes are capped (see the error's `max`). Pending creations are listed "
        "to their owner only.",
    )
    policy_history: list[PolicyEvent] = strawberry.field(
        resolver=policy_resolvers.policy_history, description="Every state change of a policy, oldest first."
    )
    me: SessionInfo | None = strawberry.field(
        resolver=auth_resolvers.me,
        description="The signed-in wallet's session and its own policies; null without a session token.",
    )
    stats: PolicyStats = strawberry.field(
        resolver=policy_resolvers.stats,
        description="Public policies per tier and status: count, protected amount, collateral and premiums.",
    )
    quote: Quote = strawberry.field(
        resolver=creation_resolvers.quote,
        description="Price a policy: premium, collateral, tier, heights and the prices used. A preview: it reserves "
        "nothing; pass its quoteId to requestPolicyCreation to buy at these numbers while it is valid.",
    )
    tier_availability: list[TierAvailability] = strawberry.field(
        resolver=market_resolvers.tier_availability, description="Capital, locked, reserved and free per tier."
    )
    latest_price: Price = strawberry.field(
        resolver=market_resolvers.latest_price,
        description="The oracle's aggregated price (ORACLE_UNAVAILABLE if stale).",
    )
    chain_status: ChainStatus = strawberry.field(
        resolver=chain_resolvers.chain_status,
        description="Chain tip, the listener's cursor and lag, its last error, the chain marker, reconciliation.",
    )


@strawberry.type
class Mutation:
    auth_challenge: AuthChallenge = strawberry.field(
        resolver=auth_resolvers.auth_challenge,
        description="Start a wallet sign-in: a one-time message for `address` to sign (expires; single use). Open "
        "challenges are bounded per client and per address (QUOTA_EXCEEDED).",
    )
    authenticate: AuthPayload = strawberry.field(
        resolver=auth_resolvers.authenticate,
        description="Finish a sign-in: the wallet's signature (hex, RSV) over the challenge's message and the "
        "public key (hex) of `address`. Returns a session token.",
    )
    sign_out: bool = strawberry.field(
        resolver=auth_resolvers.sign_out, description="End the current session (its token stops working)."
    )
    request_policy_creation: PolicyCreation = strawberry.mutation(
        resolver=creation_resolvers.request_policy_creation,
        description="Signed in: price (or lock in `quoteId`), reserve collateral, sign the quote, store the policy as "
        "PendingCreation and return the contract call for the wallet. Repeating an idempotencyKey with the same "
        "request returns the first result; with any other term it is CONFLICT. The wallet's STX balance must cover "
        "the premium and fee plus its other open quotes' (INSUFFICIENT_FUNDS); it may hold a few open quotes and a "
        "share of a tier (QUOTA_EXCEEDED).",
    )
    submit_policy_creation_tx: Policy = strawberry.mutation(
        resolver=creation_resolvers.submit_policy_creation_tx,
        description="Owner only: the txid the wallet broadcast, so the service follows it before its event arrives.",
    )
    request_policy_activation: Policy = strawberry.mutation(
        resolver=lifecycle_resolvers.request_policy_activation,
        description="Owner only: exercise an Active policy while BTC is below its strike and before it expires. "
        "It becomes Settling, the backend sends update-policy-status, and the confirmed event makes it Settled.",
    )
    run_expiration_check: ExpirationCheck = strawberry.mutation(
        resolver=lifecycle_resolvers.run_expiration_check,
        description="Operator only: run the expiration job now (Active policies past their height → Expiring).",
    )
    retry_policy_status_update: Policy = strawberry.mutation(
        resolver=lifecycle_resolvers.retry_policy_status_update,
        description="Operator only: retry a FailedSettlement / FailedExpiration policy's status update.",
    )
    set_local_price: Price = strawberry.mutation(
        resolver=market_resolvers.set_local_price,
        description="Operator only, local feed only: set the price every local source reports.",
    )


@strawberry.type
class Subscription:
    policy_updated: AsyncGenerator[Policy, None] = strawberry.subscription(
        resolver=subscription_resolvers.policy_updated,
        description="Each new version of a policy. With `sinceVersion` (the last version you saw) the current "
        "version comes first if it is newer, so a reconnecting client misses nothing.",
    )
    policies_updated: AsyncGenerator[Policy, None] = strawberry.subscription(
        resolver=subscription_resolvers.policies_updated,
        description="Every change of an owner's policies. With `since`, the policies changed after that moment "
        "(updatedAt) come first.",
    )
    chain_tip: AsyncGenerator[ChainTip, None] = strawberry.subscription(
        resolver=subscription_resolvers.chain_tip,
        description="The chain tip the listener last saw, then each time it moves.",
    )
