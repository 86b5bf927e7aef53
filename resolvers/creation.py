"""Quote and creation operations: thin translations to `QuoteService` and `CreationService`."""

from __future__ import annotations

import strawberry

from resolvers.context import Info
from resolvers.permissions import require_session
from schema.creation_types import PolicyCreation, PolicyParametersInput, PreparedContractCall, Quote
from schema.policy_types import Policy
from services.core.errors import ChainUnavailable
from services.policies.creation import CreationService
from services.policies.quotes import QuoteService


def _quotes(info: Info) -> QuoteService:
    if info.context.services.quotes is None:
        raise ChainUnavailable("quotes need a Stacks API: this server has none configured (STACKS_API_URL)")
    return info.context.services.quotes


def _creation(info: Info) -> CreationService:
    if info.context.services.creation is None:
        raise ChainUnavailable("policy creation is not configured on this server (STACKS_API_URL and QUOTE_KEY)")
    return info.context.services.creation


async def quote(info: Info, input: PolicyParametersInput) -> Quote:
    return Quote.from_data(await _quotes(info).quote(input.to_parameters()))


async def request_policy_creation(
    info: Info,
    input: PolicyParametersInput,
    idempotency_key: str,
    quote_id: str | None = None,
) -> PolicyCreation:
    CreationService.check_request(idempotency_key, quote_id)  # hostile strings are refused before any lookup
    session = await require_session(info)
    result = await _creation(info).request_creation(session.address, input.to_parameters(), idempotency_key, quote_id)
    return PolicyCreation(
        policy=Policy.from_record(result.policy),
        quote=Quote.from_data(result.quote),
        transaction=PreparedContractCall.from_call(result.transaction),
        repeated=result.repeated,
    )


async def submit_policy_creation_tx(info: Info, policy_id: strawberry.ID, tx_id: str) -> Policy:
    CreationService.check_submission(str(policy_id), tx_id)
    session = await require_session(info)
    record = await _creation(info).submit_creation_tx(session.address, str(policy_id), tx_id)
    return Policy.from_record(record)
