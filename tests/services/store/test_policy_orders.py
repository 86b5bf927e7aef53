"""List orders, keyset pages both ways, `statusIn` and `stats` against SecantusDB: results checked against a sort
done here, and every shape's plan checked to scan the index meant for it."""

from __future__ import annotations

import random
from typing import Any

import pytest

from services.core.errors import BadInput
from services.core.models import PolicyRecord, RiskTier
from services.core.status import Cause, StatusDetailed
from services.policies.cursors import decode_cursor, encode_cursor
from services.policies.queries import PolicyQueries, status_set
from services.store.indexes import ensure_indexes
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.policy_filter import PolicyFilter
from services.store.policy_order import PolicyOrder, Position
from tests.factories import OWNER_A, OWNER_B, make_policy

S = StatusDetailed
Order = PolicyOrder
OPEN = frozenset({S.Active, S.Settling, S.Expiring})


@pytest.fixture
def repo(store: MongoStore) -> PolicyRepository:
    return PolicyRepository(store)


def _stages(stage: dict[str, Any]) -> list[dict[str, Any]]:
    found = [stage]
    if "inputStage" in stage:
        found += _stages(stage["inputStage"])
    for child in stage.get("inputStages", []):
        found += _stages(child)
    return found


def _ixscans(plan: dict[str, Any]) -> list[str]:
    stages = _stages(plan["queryPlanner"]["winningPlan"])
    assert "COLLSCAN" not in [s.get("stage") for s in stages]
    return [s["indexName"] for s in stages if s.get("stage") == "IXSCAN"]


# Every new list shape (filter × order, both directions) and the index it must scan.
SHAPES: list[tuple[str, PolicyFilter, PolicyOrder, str]] = [
    ("statusIn", PolicyFilter(status_in=OPEN), Order.CREATED_AT_DESC, "status_id"),
    ("owner+statusIn", PolicyFilter(owner=OWNER_A, status_in=OPEN), Order.CREATED_AT_DESC, "owner_status_id"),
    ("public+viewer", PolicyFilter(public_only=True, viewer=OWNER_A), Order.CREATED_AT_DESC, "_id_"),
    ("expiration", PolicyFilter(), Order.EXPIRATION_HEIGHT_ASC, "expiration_id"),
    ("expiration owner", PolicyFilter(owner=OWNER_A), Order.EXPIRATION_HEIGHT_ASC, "owner_expiration_id"),
    ("expiration statusIn", PolicyFilter(status_in=OPEN), Order.EXPIRATION_HEIGHT_ASC, "status_expiration_id"),
    ("expiration status", PolicyFilter(status_detailed=S.Active), Order.EXPIRATION_HEIGHT_ASC, "status_expiration_id"),
    ("expiration tier", PolicyFilter(risk_tier=RiskTier.Balanced), Order.EXPIRATION_HEIGHT_ASC, "expiration_id"),
    ("premium", PolicyFilter(), Order.PREMIUM_DESC, "premium_id"),
    ("premium owner", PolicyFilter(owner=OWNER_A), Order.PREMIUM_DESC, "owner_premium_id"),
    ("premium owner+statusIn", PolicyFilter(owner=OWNER_A, status_in=OPEN), Order.PREMIUM_DESC, "owner_premium_id"),
    ("premium statusIn", PolicyFilter(status_in=OPEN), Order.PREMIUM_DESC, "status_premium_id"),
    ("premium tier", PolicyFilter(risk_tier=RiskTier.Aggressive), Order.PREMIUM_DESC, "premium_id"),
]


@pytest.mark.parametrize("backward", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize(("name", "flt", "order", "index"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_each_list_shape_is_an_index_scan(
    repo: PolicyRepository, name: str, flt: PolicyFilter, order: PolicyOrder, index: str, backward: bool
) -> None:
    for i in range(5):
        await repo.insert(
            make_policy(expiration_height=100 * i, premium_ustx=7 * i, status_detailed=S.Active), Cause.CHAIN
        )
    assert flt.index_hint(order) == index
    assert _ixscans(await repo.explain_page(flt, 10, order, backward)) == [index]


async def test_stats_is_an_index_scan(repo: PolicyRepository) -> None:
    await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    assert _ixscans(await repo.explain_stats()) == ["stats_cover"]


def _reference(records: list[PolicyRecord], order: PolicyOrder) -> list[str]:
    newest_first = sorted(records, key=lambda r: r.id, reverse=True)  # ObjectIds grow with time
    if order is Order.EXPIRATION_HEIGHT_ASC:
        newest_first.sort(key=lambda r: r.expiration_height)  # stable: ties stay newest first
    elif order is Order.PREMIUM_DESC:
        newest_first.sort(key=lambda r: -r.premium_ustx)
    return [r.id for r in newest_first]


@pytest.fixture
async def mixed(repo: PolicyRepository) -> list[PolicyRecord]:
    """23 policies with many ties in both sort keys, two owners, every status."""
    rng = random.Random(20)
    statuses = list(S)
    records = []
    for i in range(23):
        record = make_policy(
            owner=OWNER_A if i % 3 else OWNER_B,
            expiration_height=rng.choice([500, 600, 700]),
            premium_ustx=rng.choice([0, 1_000, 2**40, 2**58]),
            status_detailed=statuses[i % len(statuses)],
            risk_tier=list(RiskTier)[i % 3],
        )
        records.append(await repo.insert(record, Cause.REQUEST))
    return records


@pytest.mark.parametrize("order", list(Order))
@pytest.mark.parametrize("size", [1, 4, 100])
async def test_pages_forwards_and_backwards_cover_the_list_exactly(
    repo: PolicyRepository, mixed: list[PolicyRecord], order: PolicyOrder, size: int
) -> None:
    queries = PolicyQueries(repo, max_page_size=100, default_page_size=20)
    flt = PolicyFilter(owner=OWNER_A)
    expected = _reference([r for r in mixed if r.owner == OWNER_A], order)

    forwards: list[str] = []
    after: str | None = None
    while True:
        request = queries.page_request(flt, size, after, order)
        page = await queries.fetch(request)
        forwards += [e.node.id for e in page.edges]
        # the far side of the cursor: exactly whether anything precedes this page
        assert await queries.has_beyond(request) == (len(forwards) > len(page.edges))
        assert page.has_previous_page in (None, False)
        if not page.has_next_page:
            break
        after = page.edges[-1].cursor
    assert forwards == expected

    backwards: list[str] = []
    before: str | None = None
    while True:
        request = queries.page_request(flt, None, None, order, last=size, before=before)
        page = await queries.fetch(request)
        ids = [e.node.id for e in page.edges]
        assert ids == expected[len(expected) - len(backwards) - len(ids) : len(expected) - len(backwards)]
        assert page.has_previous_page == (len(backwards) + len(ids) < len(expected))
        assert await queries.has_beyond(request) == bool(backwards)  # hasNextPage of a backward page
        backwards = ids + backwards
        if not page.has_previous_page:
            break
        before = page.edges[0].cursor
    assert backwards == expected


async def test_a_cursor_whose_policy_left_the_filter_still_pages_from_its_place(
    repo: PolicyRepository, mixed: list[PolicyRecord]
) -> None:
    """Keyset positions hold their place without the policy: the next page starts right after where it was."""
    queries = PolicyQueries(repo, max_page_size=100, default_page_size=20)
    flt = PolicyFilter(status_in=OPEN)
    expected = _reference([r for r in mixed if r.status_detailed in OPEN], Order.PREMIUM_DESC)
    first = await queries.fetch(queries.page_request(flt, 2, None, Order.PREMIUM_DESC))
    moved = await repo.get(first.edges[-1].node.id)
    assert moved is not None
    await repo.transition(moved, S.Settled if moved.status_detailed is not S.Expiring else S.Expired, Cause.CHAIN)
    rest = await queries.fetch(queries.page_request(flt, 100, first.edges[-1].cursor, Order.PREMIUM_DESC))
    assert [e.node.id for e in rest.edges] == expected[2:]


async def test_status_in_and_status_detailed_both_hold(repo: PolicyRepository, mixed: list[PolicyRecord]) -> None:
    def ids(page: Any) -> set[str]:
        return {r.id for r in page.items}

    open_ids = {r.id for r in mixed if r.status_detailed in OPEN}
    assert ids(await repo.page(PolicyFilter(status_in=OPEN), 100)) == open_ids
    assert await repo.count(PolicyFilter(status_in=OPEN)) == len(open_ids)
    both = PolicyFilter(status_detailed=S.Settling, status_in=OPEN)
    assert ids(await repo.page(both, 100)) == {r.id for r in mixed if r.status_detailed is S.Settling}
    disjoint = PolicyFilter(status_detailed=S.Settled, status_in=OPEN)
    assert disjoint.query() == {"status_detailed": {"$in": []}}
    assert (await repo.page(disjoint, 100)).items == []


async def test_public_lists_hide_pending_creations_except_to_their_owner(
    repo: PolicyRepository, mixed: list[PolicyRecord]
) -> None:
    private = {S.PendingCreation, S.FailedCreation}
    anonymous = await repo.page(PolicyFilter(public_only=True), 100, order=Order.PREMIUM_DESC)
    assert {r.id for r in anonymous.items} == {r.id for r in mixed if r.status_detailed not in private}
    mine = await repo.page(PolicyFilter(public_only=True, viewer=OWNER_A), 100, order=Order.EXPIRATION_HEIGHT_ASC)
    assert {r.id for r in mine.items} == {r.id for r in mixed if r.status_detailed not in private or r.owner == OWNER_A}
    own = PolicyFilter(owner=OWNER_A, public_only=True, viewer=OWNER_A, status_in=frozenset({S.PendingCreation}))
    assert {r.id for r in (await repo.page(own, 100)).items} == {
        r.id for r in mixed if r.owner == OWNER_A and r.status_detailed is S.PendingCreation
    }
    # a filter of public statuses only needs no visibility clause at all
    assert "$and" not in PolicyFilter(status_in=OPEN, public_only=True).query()


async def test_stats_sum_public_policies_per_tier_and_status(repo: PolicyRepository, mixed: list[PolicyRecord]) -> None:
    rows = await repo.stats()
    expected: dict[tuple[RiskTier, StatusDetailed], list[int]] = {}
    for r in mixed:
        if r.status_detailed in (S.PendingCreation, S.FailedCreation):
            continue
        sums = expected.setdefault((r.risk_tier, r.status_detailed), [0, 0, 0, 0])
        for i, value in enumerate((1, r.protected_amount_sats, r.collateral_ustx, r.premium_ustx)):
            sums[i] += value
    got = {
        (row.risk_tier, row.status_detailed): [
            row.policy_count,
            row.protected_amount_sats,
            row.collateral_ustx,
            row.premium_ustx,
        ]
        for row in rows
    }
    assert got == expected
    assert any(row.premium_ustx > 2**58 for row in rows)  # sums of large int64 values stay exact integers


def test_cursors_belong_to_their_order_and_refuse_tampering() -> None:
    position = Position(Order.PREMIUM_DESC, 2**62, "65f000000000000000000001")
    cursor = encode_cursor(position)
    assert decode_cursor(cursor, Order.PREMIUM_DESC) == position
    with pytest.raises(BadInput) as other:
        decode_cursor(cursor, Order.EXPIRATION_HEIGHT_ASC, "before")
    assert other.value.details == {"field": "before", "orderBy": "PREMIUM_DESC"}
    created = encode_cursor(Position(Order.CREATED_AT_DESC, None, "65f000000000000000000001"))
    with pytest.raises(BadInput):
        decode_cursor(created, Order.PREMIUM_DESC)
    import base64

    for raw in (
        "policy:v2:p:-1:65f000000000000000000001",
        "policy:v2:p:01:65f000000000000000000001",
        "policy:v2:x:1:65f000000000000000000001",
        "policy:v2:p:1:65f00000000000000000000",
        "policy:v2:p:123456789012345678901:65f000000000000000000001",
        "policy:v2:p:9223372036854775808:65f000000000000000000001",  # past int64: the database cannot take it
        "policy:v2:e:99999999999999999999:65f000000000000000000001",
        "policy:v1:65f000000000000000000001x",
    ):
        forged = base64.urlsafe_b64encode(raw.encode()).decode()
        with pytest.raises(BadInput):
            decode_cursor(forged, Order.PREMIUM_DESC)
    with pytest.raises(BadInput) as long:
        decode_cursor("a" * 101, Order.PREMIUM_DESC)
    assert long.value.details["max"] == 100


def test_status_in_is_bounded() -> None:
    assert status_set([S.Active, S.Active]) == frozenset({S.Active})
    with pytest.raises(BadInput):
        status_set([S.Active] * 10)


async def test_the_retired_index_is_dropped_at_start_up(store: MongoStore) -> None:
    """An index an earlier version created (status, height) is dropped: its wider successor serves its queries."""
    await store.db.policies.create_index([("status_detailed", 1), ("expiration_height", 1)], name="status_expiration")
    await ensure_indexes(store.db)
    names = {index["name"] async for index in await store.db.policies.list_indexes()}
    assert "status_expiration" not in names and "status_expiration_id" in names
    await ensure_indexes(store.db)  # idempotent
