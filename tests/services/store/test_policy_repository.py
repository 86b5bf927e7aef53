"""The policy repository against a real MongoDB wire-protocol server (SecantusDB)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from services.core.errors import BadInput, Conflict
from services.core.models import RiskTier
from services.core.status import TRANSITIONS, Cause, InvalidTransition, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.policy_filter import PolicyFilter
from tests.factories import OWNER_A, OWNER_B, make_policy, next_onchain_id

S = StatusDetailed


@pytest.fixture
def repo(store: MongoStore) -> PolicyRepository:
    return PolicyRepository(store)


async def test_insert_then_read_back_every_field(repo: PolicyRepository) -> None:
    record = make_policy(policy_id_onchain=next_onchain_id(), quote_id="ab" * 16, tx_id_creation="0x" + "11" * 32)
    stored = await repo.insert(record, Cause.REQUEST, {"quote": "q1"})
    assert stored == record
    assert await repo.get(record.id) == record
    assert await repo.get_by_onchain_id(record.policy_id_onchain or 0) == record
    history = await repo.history(record.id)
    assert [(e.version, e.from_status, e.to_status, e.cause) for e in history] == [
        (0, None, S.PendingCreation, "request")
    ]
    assert history[0].details == {"quote": "q1"}


async def test_missing_and_malformed_ids(repo: PolicyRepository) -> None:
    assert await repo.get("65f000000000000000000000") is None
    with pytest.raises(BadInput):
        await repo.get("not-an-id")


async def test_onchain_id_quote_and_idempotency_key_are_unique(repo: PolicyRepository) -> None:
    onchain = next_onchain_id()
    await repo.insert(make_policy(policy_id_onchain=onchain), Cause.CHAIN)
    with pytest.raises(Conflict):
        await repo.insert(make_policy(policy_id_onchain=onchain), Cause.CHAIN)
    await repo.insert(make_policy(quote_id="cd" * 16), Cause.REQUEST)
    with pytest.raises(Conflict):
        await repo.insert(make_policy(quote_id="cd" * 16), Cause.REQUEST)
    await repo.insert(make_policy(idempotency_key="k1"), Cause.REQUEST)
    await repo.insert(make_policy(idempotency_key="k1", owner=OWNER_B), Cause.REQUEST)  # another owner's key
    with pytest.raises(Conflict):
        await repo.insert(make_policy(idempotency_key="k1"), Cause.REQUEST)
    # Policies without an on-chain id yet do not collide with each other (partial index).
    await repo.insert(make_policy(), Cause.REQUEST)
    await repo.insert(make_policy(), Cause.REQUEST)
    # A refused insert wrote nothing, not even its audit entry.
    assert await repo.count(PolicyFilter()) == 6
    assert await repo._events.count_documents({}) == 6


FILTERS: list[tuple[PolicyFilter, str]] = [
    (PolicyFilter(owner=OWNER_A), "owner_id"),
    (PolicyFilter(owner=OWNER_A, status_detailed=S.Active), "owner_status_id"),
    (PolicyFilter(status_detailed=S.Active), "status_id"),
    (PolicyFilter(risk_tier=RiskTier.Balanced), "tier_id"),
    (PolicyFilter(expires_before=500), "expiration_id"),
    (PolicyFilter(expires_after=500), "expiration_id"),
    (PolicyFilter(status_detailed=S.Active, expires_before=900), "status_id"),
    (PolicyFilter(), "_id_"),
]


@pytest.mark.parametrize(("flt", "index"), FILTERS, ids=[i for _, i in FILTERS])
async def test_each_filter_is_an_index_scan(repo: PolicyRepository, flt: PolicyFilter, index: str) -> None:
    for i in range(5):
        await repo.insert(make_policy(expiration_height=100 * i, status_detailed=S.Active), Cause.CHAIN)
    plan = await repo.explain_page(flt, 10)
    stages = _stages(plan["queryPlanner"]["winningPlan"])
    assert "COLLSCAN" not in [s.get("stage") for s in stages]
    assert [s["indexName"] for s in stages if s.get("stage") == "IXSCAN"] == [index]


def _stages(stage: dict[str, Any]) -> list[dict[str, Any]]:
    found = [stage]
    for key in ("inputStage",):
        if key in stage:
            found += _stages(stage[key])
    for child in stage.get("inputStages", []):
        found += _stages(child)
    return found


async def test_filters_select_the_right_policies(repo: PolicyRepository) -> None:
    await repo.insert(make_policy(owner=OWNER_A, expiration_height=100, status_detailed=S.Active), Cause.CHAIN)
    await repo.insert(make_policy(owner=OWNER_A, expiration_height=200, risk_tier=RiskTier.Balanced), Cause.REQUEST)
    await repo.insert(make_policy(owner=OWNER_B, expiration_height=300, status_detailed=S.Active), Cause.CHAIN)
    assert await repo.count(PolicyFilter(owner=OWNER_A)) == 2
    assert await repo.count(PolicyFilter(owner=OWNER_A, status_detailed=S.Active)) == 1
    assert await repo.count(PolicyFilter(status_detailed=S.Active)) == 2
    assert await repo.count(PolicyFilter(risk_tier=RiskTier.Balanced)) == 1
    assert await repo.count(PolicyFilter(expires_before=200)) == 1
    assert await repo.count(PolicyFilter(expires_after=100, expires_before=300)) == 1
    page = await repo.page(PolicyFilter(owner=OWNER_A), first=10)
    assert [p.expiration_height for p in page.items] == [200, 100]  # newest first
    assert not page.has_next_page


@pytest.mark.parametrize(
    ("source", "target", "cause"),
    [(t.source, t.target, c) for t in TRANSITIONS for c in sorted(t.causes)],
    ids=lambda v: getattr(v, "value", str(v)),
)
async def test_every_allowed_transition_succeeds(
    repo: PolicyRepository, source: StatusDetailed, target: StatusDetailed, cause: Cause
) -> None:
    policy = await repo.insert(make_policy(status_detailed=source), Cause.REQUEST)
    moved = await repo.transition(policy, target, cause, changes={"failure_reason": "x"}, details={"why": "test"})
    assert (moved.status_detailed, moved.version, moved.failure_reason) == (target, 1, "x")
    assert moved.updated_at >= policy.updated_at
    history = await repo.history(policy.id)
    assert [(e.from_status, e.to_status, e.cause, e.version) for e in history][-1] == (source, target, cause.value, 1)


async def test_every_other_move_is_refused_and_writes_nothing(repo: PolicyRepository) -> None:
    listed = {(t.source, t.target): t.causes for t in TRANSITIONS}
    policies = {s: await repo.insert(make_policy(status_detailed=s), Cause.REQUEST) for s in S}
    refused = 0
    for source, target in itertools.product(S, S):
        for cause in Cause:
            if cause in listed.get((source, target), frozenset()):
                continue
            with pytest.raises(InvalidTransition):
                await repo.transition(policies[source], target, cause)
            refused += 1
    assert refused == len(S) ** 2 * len(Cause) - sum(len(c) for c in listed.values())
    for source, policy in policies.items():
        after = await repo.require(policy.id)
        assert (after.status_detailed, after.version) == (source, 0)
        assert len(await repo.history(policy.id)) == 1


async def test_a_stale_read_cannot_transition(repo: PolicyRepository) -> None:
    policy = await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    await repo.transition(policy, S.Settling, Cause.REQUEST)
    with pytest.raises(Conflict):
        await repo.transition(policy, S.Expiring, Cause.JOB)  # still believes it is Active at version 0
    assert (await repo.require(policy.id)).status_detailed is S.Settling


async def test_concurrent_transitions_of_one_policy_exactly_one_wins(repo: PolicyRepository) -> None:
    policy = await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    attempts = [repo.transition(policy, S.Settling, Cause.REQUEST) for _ in range(8)]
    attempts += [repo.transition(policy, S.Expiring, Cause.JOB) for _ in range(8)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    final = await repo.require(policy.id)
    assert final.version == 1 and final.status_detailed is winners[0].status_detailed
    assert len(await repo.history(policy.id)) == 2


async def test_pages_have_no_duplicates_or_gaps_while_inserts_happen(repo: PolicyRepository) -> None:
    original = [await repo.insert(make_policy(owner=OWNER_A), Cause.REQUEST) for _ in range(23)]
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await repo.page(PolicyFilter(owner=OWNER_A), first=5, after=after)
        seen += [p.id for p in page.items]
        # Newer policies arrive between page requests; they sort before the cursor and must not shift pages.
        await repo.insert(make_policy(owner=OWNER_A), Cause.REQUEST)
        if not page.has_next_page:
            break
        after = page.items[-1].id
    assert len(seen) == len(set(seen))
    assert seen == [p.id for p in reversed(original)]
