"""Activation (settlement) and expiration (DESIGN §7): the off-chain checks, the status change, and the one backend
transaction `update-policy-status` per action.

Each request is one transaction: the policy's conditional transition (Active → Settling / Expiring) and the
queued backend transaction commit together, so two concurrent activations of one policy produce one transition
and one transaction (the loser gets CONFLICT), and a crash can never leave a Settling policy with nothing queued.
The chain decides the end: the confirmed `policy-status-updated` event makes the policy Settled or Expired (the
listener applies it); a transaction that fails on chain makes it FailedSettlement / FailedExpiration, from where
an operator retry starts a new attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pymongo.asynchronous.client_session import AsyncClientSession

from services.backend_txs import BackendTxQueue, PolicyAction
from services.core.clock import now_utc
from services.core.errors import ActivationConditionNotMet, Conflict, Forbidden, NotFound
from services.core.fencing import Fence, Unfenced
from services.core.models import OracleSnapshot, PolicyRecord
from services.core.status import Cause, StatusDetailed
from services.core.visibility import is_visible
from services.oracle import Asset, OracleService
from services.policies.quotes import BurnHeightSource
from services.premium import settlement_ustx
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)
S = StatusDetailed


@dataclass(frozen=True)
class ExpirationReport:
    burn_height: int
    expiring: list[str]  # off-chain ids moved to Expiring (and queued) by this run
    skipped: list[str]  # moved by someone else meanwhile


class LifecycleService:
    def __init__(
        self,
        store: MongoStore,
        policies: PolicyRepository,
        oracle: OracleService,
        chain: BurnHeightSource,
        queue: BackendTxQueue,
    ) -> None:
        self._store = store
        self._policies = policies
        self._oracle = oracle
        self._chain = chain
        self._queue = queue

    async def request_activation(self, owner: str, policy_id_onchain: int) -> PolicyRecord:
        policy = await self._policies.get_by_onchain_id(policy_id_onchain)
        if policy is None or not is_visible(policy, owner):  # another's creation not on chain: as if missing
            raise NotFound(f"no policy with on-chain id {policy_id_onchain}", policyIdOnChain=policy_id_onchain)
        if policy.owner != owner:
            raise Forbidden("only the policy's owner may activate it", policyIdOnChain=policy_id_onchain)
        if policy.status_detailed is not S.Active or policy.status_onchain != 0:
            raise Conflict(
                f"the policy is {policy.status_detailed.value}: only an Active policy can be activated",
                status=policy.status_detailed.value,
            )
        burn_height = await self._chain.burn_height()
        if burn_height > policy.expiration_height:
            raise ActivationConditionNotMet(
                f"the policy expired at burn height {policy.expiration_height} (now {burn_height})",
                reason="expired",
                burnHeight=burn_height,
                expirationHeight=policy.expiration_height,
            )
        btc = await self._oracle.latest_price(Asset.BTC_USD)
        stx = await self._oracle.latest_price(Asset.STX_USD)
        if btc.price_usd8 >= policy.protected_value_usd8:
            raise ActivationConditionNotMet(
                f"BTC is at {btc.price_usd8} (USD x 1e8), not below the strike {policy.protected_value_usd8}",
                reason="price-not-below-strike",
                priceUsd8=str(btc.price_usd8),
                strikeUsd8=str(policy.protected_value_usd8),
            )
        amount = settlement_ustx(
            policy.protected_value_usd8,
            btc.price_usd8,
            policy.protected_amount_sats,
            stx.price_usd8,
            policy.collateral_ustx,
        )
        if amount <= 0:
            raise ActivationConditionNotMet(
                "the settlement rounds down to nothing at this price",
                reason="settlement-zero",
                priceUsd8=str(btc.price_usd8),
            )
        snapshot = OracleSnapshot(
            btc_usd8=btc.price_usd8,
            stx_usd8=stx.price_usd8,
            volatility_ppm=btc.volatility_ppm,
            sources=sorted(set(btc.sources) | set(stx.sources)),
            as_of=btc.as_of,
        )

        async def work(session: AsyncClientSession) -> PolicyRecord:
            moved = await self._policies.transition(
                policy,
                S.Settling,
                Cause.REQUEST,
                changes={
                    "settlement_ustx": amount,
                    "settlement_price_usd8": btc.price_usd8,
                    "oracle_snapshot_settlement": snapshot.model_dump(),
                    "failure_reason": None,
                },
                details={"settlementUstx": amount, "priceUsd8": btc.price_usd8},
                session=session,
            )
            await self.request_settlement(session, moved)
            return moved

        moved = await self._store.transaction(work)
        log.info(
            "activation accepted",
            extra={
                "policy_id": policy.id,
                "action": "activate",
                "settlement_ustx": amount,
                "price_usd8": btc.price_usd8,
            },
        )
        return moved

    async def request_settlement(self, session: AsyncClientSession, policy: PolicyRecord) -> None:
        """The seed's `requestSettlement` (docs/design.md): the vault pays inside `update-policy-status(u1)`, so asking
        for the payment is queueing that backend transaction."""
        assert policy.policy_id_onchain is not None and policy.settlement_ustx and policy.settlement_price_usd8
        await self._queue.enqueue(
            session,
            policy_id=policy.id,
            policy_id_onchain=policy.policy_id_onchain,
            action=PolicyAction.SETTLE,
            settlement_ustx=policy.settlement_ustx,
            settlement_price_usd8=policy.settlement_price_usd8,
        )

    async def request_collateral_release(self, session: AsyncClientSession, policy: PolicyRecord) -> None:
        """The seed's `requestCollateralRelease` (docs/design.md): `update-policy-status(u2)` releases it."""
        assert policy.policy_id_onchain is not None
        await self._queue.enqueue(
            session, policy_id=policy.id, policy_id_onchain=policy.policy_id_onchain, action=PolicyAction.EXPIRE
        )

    async def check_expirations(self, limit: int = 500, fence: Fence | None = None) -> ExpirationReport:
        """Policies whose expiration height the burn chain has passed → Expiring + queued expiry: Active ones, and
        FailedSettlement ones (their settlement can no longer succeed; the collateral must not stay locked).
        Each move is one transaction behind `fence` (the `expiration` job's lease): a run that lost it moves none."""
        fence = fence or Unfenced()
        burn_height = await self._chain.burn_height()
        expiring, skipped = [], []
        for policy_id in await self._policies.due_for_expiration(burn_height, limit):
            policy = await self._policies.get(policy_id)
            if policy is None or policy.policy_id_onchain is None:
                continue

            async def work(session: AsyncClientSession, policy: PolicyRecord = policy) -> None:
                await fence.fence(session)
                moved = await self._policies.transition(
                    policy, S.Expiring, Cause.JOB, details={"burnHeight": burn_height}, session=session
                )
                await self.request_collateral_release(session, moved)

            try:
                await self._store.transaction(work)
                expiring.append(policy.id)
                log.info(
                    "policy expiring", extra={"policy_id": policy.id, "action": "expire", "burn_height": burn_height}
                )
            except Conflict:
                skipped.append(policy.id)
        return ExpirationReport(burn_height, expiring, skipped)

    async def retry(self, policy_id_onchain: int) -> PolicyRecord:
        """Operator: a FailedSettlement / FailedExpiration policy tries its status update again (a new attempt)."""
        policy = await self._policies.get_by_onchain_id(policy_id_onchain)
        if policy is None:
            raise NotFound(f"no policy with on-chain id {policy_id_onchain}", policyIdOnChain=policy_id_onchain)
        target = {S.FailedSettlement: S.Settling, S.FailedExpiration: S.Expiring}.get(policy.status_detailed)
        if target is S.Settling and await self._chain.burn_height() > policy.expiration_height:
            target = S.Expiring  # too late to settle (the contract would say u105): release the collateral
        if target is None:
            raise Conflict(
                f"the policy is {policy.status_detailed.value}: only failed settlements and expirations can be retried",
                status=policy.status_detailed.value,
            )

        async def work(session: AsyncClientSession) -> PolicyRecord:
            moved = await self._policies.transition(
                policy,
                target,
                Cause.OPERATOR,
                changes={"failure_reason": None},
                details={"previousFailure": policy.failure_reason},
                session=session,
            )
            if target is S.Settling:
                await self.request_settlement(session, moved)
            else:
                await self.request_collateral_release(session, moved)
            return moved

        moved = await self._store.transaction(work)
        log.info(
            "status update retried",
            extra={"policy_id": policy.id, "action": f"retry-{target.value}", "at": now_utc().isoformat()},
        )
        return moved
