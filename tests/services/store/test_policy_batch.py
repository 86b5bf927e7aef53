"""PolicyBatch: policy changes staged in memory and flushed in bulk keep the repository's invariants."""

from __future__ import annotations

import os

import pytest

from services.core.errors import Conflict
from services.core.status import Cause, InvalidTransition, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.policy_batch import PolicyBatch
from tests.factories import make_policy, next_onchain_id

S = StatusDetailed


async def test_staged_moves_flush_as_one_write_per_policy_with_every_audit_entry(store: MongoStore) -> None:
    repo = PolicyRepository(store)
    policy = await repo.insert(make_policy(status_detailed=S.Active, policy_id_onchain=next_onchain_id()), Cause.CHAIN)
    batch = await PolicyBatch.load(store, [], [policy.policy_id_onchain or 0])
    staged = batch.by_onchain_id(policy.policy_id_onchain or 0)
    assert staged == policy
    settling = batch.transition(policy, S.Settling, Cause.REQUEST)
    settled = batch.transition(settling, S.Settled, Cause.CHAIN, changes={"settlement_ustx": 5})
    with pytest.raises(InvalidTransition):
        batch.transition(settled, S.Active, Cause.CHAIN)  # the status machine still decides
    with pytest.raises(Conflict):
        batch.transition(policy, S.Expired, Cause.CHAIN)  # a stale record, as with the repository
    await store.transaction(lambda s: batch.flush(store, s))

    stored = await repo.require(policy.id)
    assert (stored.status_detailed, stored.version, stored.settlement_ustx) == (S.Settled, 2, 5)
    assert [(e.version, e.from_status, e.to_status) for e in await repo.history(policy.id)] == [
        (0, None, S.Active),
        (1, S.Active, S.Settling),
        (2, S.Settling, S.Settled),
    ]


async def test_a_policy_changed_meanwhile_fails_the_flush_and_nothing_is_written(store: MongoStore) -> None:
    repo = PolicyRepository(store)
    policy = await repo.insert(
        make_policy(status_detailed=S.PendingCreation, quote_id=os.urandom(16).hex()), Cause.REQUEST
    )
    batch = await PolicyBatch.load(store, [policy.quote_id or ""], [])
    batch.transition(policy, S.Active, Cause.CHAIN, changes={"policy_id_onchain": next_onchain_id()})
    await repo.transition(policy, S.FailedCreation, Cause.MONITOR)  # another writer got there first
    with pytest.raises(Conflict):
        await store.transaction(lambda s: batch.flush(store, s))
    stored = await repo.require(policy.id)
    assert (stored.status_detailed, stored.version, stored.policy_id_onchain) == (S.FailedCreation, 1, None)
    assert len(await repo.history(policy.id)) == 2


async def test_lookups_answer_only_for_loaded_keys(store: MongoStore) -> None:
    batch = await PolicyBatch.load(store, ["ab" * 16], [7])
    assert batch.by_quote_id("ab" * 16) is None and batch.by_onchain_id(7) is None
    with pytest.raises(KeyError):
        batch.by_onchain_id(8)
    with pytest.raises(KeyError):
        batch.by_quote_id("cd" * 16)
