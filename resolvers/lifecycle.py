"""Activation, expiration and operator retries: thin translations to `LifecycleService`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import Info
from resolvers.permissions import require_operator, require_session
from schema.lifecycle_types import ExpirationCheck
from schema.policy_types import Policy
from services.core.errors import ChainUnavailable
from services.policies.lifecycle import LifecycleService

OnChainId = Annotated[int, strawberry.argument(name="policyIdOnChain")]


def _lifecycle(info: Info) -> LifecycleService:
    if info.context.services.lifecycle is None:
        raise ChainUnavailable("activation and expiration need a Stacks API: none configured (STACKS_API_URL)")
    return info.context.services.lifecycle


async def request_policy_activation(info: Info, policy_id_onchain: OnChainId) -> Policy:
    session = await require_session(info)
    return Policy.from_record(await _lifecycle(info).request_activation(session.address, policy_id_onchain))


async def run_expiration_check(info: Info) -> ExpirationCheck:
    require_operator(info)
    report = await _lifecycle(info).check_expirations()
    return ExpirationCheck(
        burn_height=report.burn_height,
        expiring=[strawberry.ID(i) for i in report.expiring],
        skipped=[strawberry.ID(i) for i in report.skipped],
    )


async def retry_policy_status_update(info: Info, policy_id_onchain: OnChainId) -> Policy:
    require_operator(info)
    return Policy.from_record(await _lifecycle(info).retry(policy_id_onchain))
