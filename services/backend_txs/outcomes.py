"""What becomes of a policy when its backend transaction fails for good: declared here, implemented by the policies
package (services/policies/backend_outcomes.py), which sits above this one."""

from __future__ import annotations

from typing import Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from services.backend_txs.queue import PolicyAction


class BackendTxOutcomes(Protocol):
    async def failed(
        self, policy_id: str, action: PolicyAction, reason: str, txid: str | None, session: AsyncClientSession
    ) -> None:
        """The attempt failed for good (inside the transaction that ends it): move the policy accordingly."""
        ...
