"""Policy queries: thin translations between GraphQL arguments and `PolicyQueries`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, TypeVar

import strawberry

from resolvers.context import Info
from resolvers.permissions import viewer_address
from schema.inputs import PolicyFilterInput
from schema.policy_types import PageInfo, Policy, PolicyConnection, PolicyEdge, PolicyEvent
from services.auth.visibility import is_private, is_visible
from services.errors import NotFound
from services.policies.models import PolicyRecord
from services.store.policies import PolicyFilter

T = TypeVar("T")


async def _visible(info: Info, record: PolicyRecord | None) -> PolicyRecord | None:
    """The record if the caller may see it: creations not on chain yet only by their owner (docs/security.md)."""
    if record is None or not is_private(record):
        return record
    return record if is_visible(record, await viewer_address(info)) else None


async def policy(info: Info, id: strawberry.ID) -> Policy | None:
    record = await _visible(info, await info.context.services.policy_queries.get(str(id)))
    return Policy.from_record(record) if record else None


async def policy_by_onchain_id(
    info: Info, policy_id_onchain: Annotated[int, strawberry.argument(name="policyIdOnChain")]
) -> Policy | None:
    record = await _visible(info, await info.context.services.policy_queries.get_by_onchain_id(policy_id_onchain))
    return Policy.from_record(record) if record else None


async def policies(
    info: Info,
    filter: PolicyFilterInput | None = None,
    first: int | None = None,
    after: str | None = None,
) -> PolicyConnection:
    queries = info.context.services.policy_queries
    flt = replace(filter.to_filter() if filter else PolicyFilter(), public_only=True, viewer=await viewer_address(info))
    request = queries.page_request(flt, first, after)  # bad arguments fail now, whatever is selected

    async def load() -> tuple[list[PolicyEdge], PageInfo]:
        page = await queries.fetch(request)
        edges = [PolicyEdge(node=Policy.from_record(e.node), cursor=e.cursor) for e in page.edges]
        page_info = PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return edges, page_info

    return PolicyConnection(_page=once(load), _count=once(lambda: queries.count(flt)))


def once(fetch: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """A loader that runs `fetch` at most once, however many fields (resolved concurrently) await it."""
    task: asyncio.Task[T] | None = None

    async def get() -> T:
        nonlocal task
        if task is None:
            task = asyncio.ensure_future(fetch())
        return await task

    return get


async def policy_history(info: Info, id: strawberry.ID) -> list[PolicyEvent]:
    if await _visible(info, await info.context.services.policy_queries.get(str(id))) is None:
        raise NotFound(f"policy {id} does not exist", id=str(id))
    events = await info.context.services.policy_queries.history(str(id))
    return [PolicyEvent.from_record(e) for e in events]
