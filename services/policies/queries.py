"""Read side of the policy API: single policies, filtered keyset pages, and a policy's audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import BadInput
from services.policies.cursors import decode_cursor, encode_cursor
from services.policies.models import PolicyEventRecord, PolicyRecord
from services.policies.principals import check_principal
from services.store.policies import PolicyFilter, PolicyRepository, parse_object_id


@dataclass(frozen=True)
class PolicyEdgeData:
    node: PolicyRecord
    cursor: str


@dataclass(frozen=True)
class PolicyPageData:
    edges: list[PolicyEdgeData]
    has_next_page: bool
    has_previous_page: bool
    filter: PolicyFilter


@dataclass(frozen=True)
class PageRequest:
    filter: PolicyFilter
    size: int
    after_id: str | None


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

    def page_request(self, flt: PolicyFilter, first: int | None, after: str | None) -> PageRequest:
        """Check a page's arguments (BAD_INPUT at once, even if the page itself is never fetched)."""
        if flt.owner is not None:
            check_principal(flt.owner, "filter.owner")
        size = self.default_page_size if first is None else first
        if not 1 <= size <= self.max_page_size:
            raise BadInput(
                f"first must be between 1 and {self.max_page_size}", field="first", min=1, max=self.max_page_size
            )
        if (
            flt.expires_before is not None
            and flt.expires_after is not None
            and (flt.expires_after >= flt.expires_before)
        ):
            raise BadInput("expiresAfter must be lower than expiresBefore", field="filter.expiresAfter")
        return PageRequest(flt, size, decode_cursor(after) if after is not None else None)

    async def fetch(self, request: PageRequest) -> PolicyPageData:
        page = await self._policies.page(request.filter, request.size, request.after_id)
        edges = [PolicyEdgeData(record, encode_cursor(record.id)) for record in page.items]
        return PolicyPageData(
            edges, page.has_next_page, has_previous_page=request.after_id is not None, filter=request.filter
        )

    async def page(self, flt: PolicyFilter, first: int | None, after: str | None) -> PolicyPageData:
        return await self.fetch(self.page_request(flt, first, after))

    async def count(self, flt: PolicyFilter) -> int:
        return await self._policies.count(flt)

    async def history(self, policy_id: str) -> list[PolicyEventRecord]:
        await self._policies.require(policy_id)
        return await self._policies.history(policy_id)
