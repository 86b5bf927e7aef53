"""Read side of the policy API: single policies, filtered keyset pages in each order, stats, a policy's audit
trail."""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.core.errors import BadInput
from services.core.models import PolicyEventRecord, PolicyRecord
from services.core.status import StatusDetailed
from services.policies.cursors import decode_cursor, encode_cursor
from services.policies.principals import check_principal
from services.store.documents import parse_object_id
from services.store.policies import PolicyRepository
from services.store.policy_filter import PolicyFilter
from services.store.policy_order import PolicyOrder, Position
from services.store.policy_stats import PolicyStatsRow


@dataclass(frozen=True)
class PolicyEdgeData:
    node: PolicyRecord
    cursor: str


@dataclass(frozen=True)
class PolicyPageData:
    edges: list[PolicyEdgeData]
    has_next_page: bool | None  # None: not known from the page read itself (ask `has_beyond`)
    has_previous_page: bool | None
    filter: PolicyFilter


@dataclass(frozen=True)
class PageRequest:
    filter: PolicyFilter
    size: int
    order: PolicyOrder
    start: Position | None  # the `after` (forwards) or `before` (backwards) position
    backward: bool  # `last` / `before`: the page that ends just before `start` (or the list's end)


class PolicyQueries:
    def __init__(self, policies: PolicyRepository, max_page_size: int, default_page_size: int) -> None:
        self._policies = policies
        self.max_page_size = max_page_size
        self.default_page_size = default_page_size

    async def get(self, policy_id: str) -> PolicyRecord | None:
        return await self._policies.get(policy_id)

    @staticmethod
    def check_id(policy_id: str) -> str:
        """`policy_id` if it can name a policy; BAD_INPUT (before any lookup) otherwise."""
        parse_object_id(policy_id)
        return policy_id

    async def get_by_onchain_id(self, policy_id_onchain: int) -> PolicyRecord | None:
        if policy_id_onchain < 1:
            raise BadInput("policyIdOnChain must be 1 or more (on-chain ids start at u1)", field="policyIdOnChain")
        return await self._policies.get_by_onchain_id(policy_id_onchain)

    def _size(self, value: int, field: str) -> int:
        if not 1 <= value <= self.max_page_size:
            raise BadInput(
                f"{field} must be between 1 and {self.max_page_size}", field=field, min=1, max=self.max_page_size
            )
        return value

    def page_request(
        self,
        flt: PolicyFilter,
        first: int | None,
        after: str | None,
        order: PolicyOrder = PolicyOrder.CREATED_AT_DESC,
        last: int | None = None,
        before: str | None = None,
    ) -> PageRequest:
        """Check a page's arguments (BAD_INPUT at once, even if the page itself is never fetched).

        Forwards: `first` (default DEFAULT_PAGE_SIZE) after `after`; backwards: `last` before `before`. A page is
        read in one direction, so `first` or `after` with `last` or `before` is BAD_INPUT."""
        if flt.owner is not None:
            flt = replace(flt, owner=check_principal(flt.owner, "filter.owner"))
        if flt.status_in is not None and not flt.status_in:
            raise BadInput("filter.statusIn needs at least one status", field="filter.statusIn")
        if (
            flt.expires_before is not None
            and flt.expires_after is not None
            and (flt.expires_after >= flt.expires_before)
        ):
            raise BadInput("expiresAfter must be lower than expiresBefore", field="filter.expiresAfter")
        forward_args, backward_args = (first, after), (last, before)
        if any(v is not None for v in forward_args) and any(v is not None for v in backward_args):
            raise BadInput(
                "page forwards with first/after or backwards with last/before, not both",
                field="last" if last is not None else "before",
            )
        if last is not None or before is not None:
            size = self._size(self.default_page_size if last is None else last, "last")
            start = decode_cursor(before, order, "before") if before is not None else None
            return PageRequest(flt, size, order, start, backward=True)
        size = self._size(self.default_page_size if first is None else first, "first")
        start = decode_cursor(after, order, "after") if after is not None else None
        return PageRequest(flt, size, order, start, backward=False)

    async def fetch(self, request: PageRequest) -> PolicyPageData:
        page = await self._policies.page(
            request.filter, request.size, request.start, request.order, backward=request.backward
        )
        edges = [
            PolicyEdgeData(record, encode_cursor(position))
            for record, position in zip(page.items, page.positions, strict=True)
        ]
        if request.backward:
            # more before this page is known from the read; after it, only if there was a `before` to look past
            return PolicyPageData(edges, None if request.start else False, page.has_more, filter=request.filter)
        return PolicyPageData(edges, page.has_more, None if request.start else False, filter=request.filter)

    async def has_beyond(self, request: PageRequest) -> bool:
        """Whether policies lie on the far side of the request's cursor: before `after` for a forward page (its
        `hasPreviousPage`), after `before` for a backward one (its `hasNextPage`). One more read, so the API makes
        it only when a client selects that field."""
        if request.start is None:
            return False
        return await self._policies.exists_beyond(request.filter, request.start, backward=not request.backward)

    async def page(self, flt: PolicyFilter, first: int | None, after: str | None) -> PolicyPageData:
        return await self.fetch(self.page_request(flt, first, after))

    async def count(self, flt: PolicyFilter) -> int:
        return await self._policies.count(flt)

    async def stats(self) -> list[PolicyStatsRow]:
        return await self._policies.stats()

    async def history(self, policy_id: str) -> list[PolicyEventRecord]:
        await self._policies.require(policy_id)
        return await self._policies.history(policy_id)


def status_set(statuses: list[StatusDetailed] | None) -> frozenset[StatusDetailed] | None:
    """`statusIn` as a set, bounded before anything else reads it (a list longer than the enum can only repeat)."""
    if statuses is None:
        return None
    if len(statuses) > len(StatusDetailed):
        raise BadInput(
            f"filter.statusIn takes at most {len(StatusDetailed)} statuses",
            field="filter.statusIn",
            max=len(StatusDetailed),
        )
    return frozenset(statuses)
