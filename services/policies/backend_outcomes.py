"""The policy side of a backend transaction's end (`services.backend_txs.BackendTxOutcomes`): a settlement or an
expiry that failed for good leaves its policy FailedSettlement / FailedExpiration, with the reason."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from services.backend_txs import PolicyAction
from services.core.status import Cause, StatusDetailed
from services.store.policies import PolicyRepository

_FAILED_STATUS = {
    PolicyAction.SETTLE: StatusDetailed.FailedSettlement,
    PolicyAction.EXPIRE: StatusDetailed.FailedExpiration,
}
_IN_FLIGHT_STATUS = {PolicyAction.SETTLE: StatusDetailed.Settling, PolicyAction.EXPIRE: StatusDetailed.Expiring}


class PolicyBackendOutcomes:
    def __init__(self, policies: PolicyRepository) -> None:
        self._policies = policies

    async def failed(
        self, policy_id: str, action: PolicyAction, reason: str, txid: str | None, session: AsyncClientSession
    ) -> None:
        """Only a policy still waiting on this action moves (an operator may have moved it since)."""
        policy = await self._policies.get(policy_id)
        if policy is not None and policy.status_detailed is _IN_FLIGHT_STATUS[action]:
            await self._policies.transition(
                policy,
                _FAILED_STATUS[action],
                Cause.MONITOR,
                changes={"failure_reason": reason},
                details={"txid": txid, "reason": reason},
                session=session,
            )
