"""Policy queries: thin translations between GraphQL arguments and `PolicyQueries`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, TypeVar

import strawberry

from resolvers.context import Info
from resolvers.permissions import viewer_address
from schema.auth_types import PolicyLister
from schema.enums import PolicyOrder
from schema.inputs import PolicyFilterInput
from schema.policy_types import PageInfo, Policy, PolicyConnection, PolicyEdge, PolicyEvent, PolicyStats
from services.core.clock import now_utc
from services.core.errors import BadInput, NotFound
from services.core.models import PolicyRecord
from services.core.visibility import is_visible
from services.policies.principals import check_principal
from services.store.policy_filter import PolicyFilter

T = TypeVar("T")


async def _visible(info: Info, record: PolicyRecord | None) -> PolicyRecord | None:
    """The record if the caller may see it: creations not on chain yet only by their owner (docs/security.md).
    The caller's token is checked whatever the record: were only private records to look at it, a token that is
    not valid would answer UNAUTHENTICATED for a pending policy and null for a missing one."""
    viewer = await viewer_address(info)
    return record if record is not None and is_visible(record, viewer) else None


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
    order_by: PolicyOrder = PolicyOrder.CREATED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PolicyConnection:
    flt = replace(filter.to_filter() if filter else PolicyFilter(), public_only=True, viewer=await viewer_address(info))
    return connection(info, flt, order_by, first, after, last, before)


def owner_lister(info: Info, address: str) -> PolicyLister:
    """`Session.policies`: `address`'s own policies, as its owner sees them (pending creations included)."""

    async def list_own(
        filter: PolicyFilterInput | None,
        order_by: PolicyOrder,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
    ) -> PolicyConnection:
        flt = filter.to_filter() if filter else PolicyFilter()
        if flt.owner is not None and check_principal(flt.owner, "filter.owner") != address:
            raise BadInput(
                "me.policies lists the signed-in wallet's policies: leave filter.owner out", field="filter.owner"
            )
        flt = replace(flt, owner=address, public_only=True, viewer=address)
        return connection(info, flt, order_by, first, after, last, before)

    return list_own


def connection(
    info: Info,
    flt: PolicyFilter,
    order: PolicyOrder,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PolicyConnection:
    """A lazy connection: the page, the far side of its cursor and the count are each read only if selected."""
    queries = info.context.services.policy_queries
    as_of = now_utc()  # before any read: a live list resumes its subscription from here
    request = queries.page_request(flt, first, after, order, last, before)  # bad arguments fail now

    async def load() -> tuple[list[PolicyEdge], PageInfo]:
        page = await queries.fetch(request)
        edges = [PolicyEdge(node=Policy.from_record(e.node), cursor=e.cursor) for e in page.edges]
        beyond = once(lambda: queries.has_beyond(request))
        page_info = PageInfo(
            _has_next=_known(page.has_next_page, beyond),
            _has_previous=_known(page.has_previous_page, beyond),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return edges, page_info

    # counted under the request's filter: the one checked, its owner in canonical spelling
    return PolicyConnection(_page=once(load), _count=once(lambda: queries.count(request.filter)), as_of=as_of)


def _known(value: bool | None, read: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    async def get() -> bool:
        return value if value is not None else await read()

    return get


async def stats(info: Info) -> PolicyStats:
    as_of = now_utc()
    return PolicyStats.from_rows(await info.context.services.policy_queries.stats(), as_of)


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
