"""Failing a creation that can no longer reach the chain (its transaction aborted or was dropped, or its quote
lapsed): the policy goes PendingCreation → FailedCreation and its quote's reservation is released, atomically."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.errors import Conflict
from services.core.fencing import Fence
from services.core.status import Cause, StatusDetailed
from services.liquidity.service import LiquidityService
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)


async def fail_creation(
    mongo: MongoStore,
    policies: PolicyRepository,
    liquidity: LiquidityService,
    fence: Fence,
    policy_id: str,
    cause: Cause,
    reason: str,
    details: dict[str, Any],
) -> bool:
    """PendingCreation → FailedCreation with ``reason``, and the quote's reservation released, in one transaction
    behind ``fence``. False if the policy is not pending any more (or someone moved it meanwhile: their verdict
    stands)."""

    async def work(session: AsyncClientSession) -> bool:
        await fence.fence(session)
        policy = await policies.get(policy_id, session)
        if policy is None or policy.status_detailed is not StatusDetailed.PendingCreation:
            return False
        await policies.transition(
            policy,
            StatusDetailed.FailedCreation,
            cause,
            changes={"failure_reason": reason},
            details={**details, "reason": reason},
            session=session,
        )
        if policy.quote_id:
            await liquidity.release(policy.quote_id, reason, session)
        return True

    try:
        failed = await mongo.transaction(work)
    except Conflict:
        return False  # someone (the listener) moved it meanwhile: their verdict stands
    if failed:
        log.warning("policy %s creation failed: %s", policy_id, reason)
    return failed
