"""Singleton jobs whose lease was taken write nothing (docs/faults.md): the listener's cursor, tip and status, the
expiration job's moves and reconciliation's run report all commit behind the lease fence. Real SecantusDB, the
scripted Hiro API on loopback; the lease is taken over on purpose (it expires and another holder acquires it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.backend_txs import BackendTxQueue
from services.chain import StacksApiClient
from services.chain.tip import TipCache
from services.core.fencing import LeaseLost
from services.core.status import Cause, StatusDetailed
from services.jobs.reconciliation import Reconciler
from services.oracle import OracleParameters, OracleService
from services.policies.lifecycle import LifecycleService
from services.store.leases import Lease
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.prices import MongoPriceStore
from tests.documents import found
from tests.factories import make_policy
from tests.services.listener.conftest import make_listener
from tests.services.listener.fake_chain import REGISTRY, FakeChain, PolicyTerms, creation_tx, deposit_tx

S = StatusDetailed


async def taken_over(store: MongoStore, lease: Lease) -> Lease:
    """Another process takes `lease` over, as after its holder paused for longer than the TTL."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    await store.db.leases.update_one({"_id": lease.name}, {"$set": {"expires_at": past}})
    thief = Lease(store, lease.name, "thief", ttl_s=30)
    assert await thief.acquire()
    return thief


async def snapshot(store: MongoStore, *names: str) -> dict[str, list[dict[str, Any]]]:
    return {name: await store.db[name].find().sort("_id", 1).to_list(None) for name in names}


async def test_a_listener_whose_lease_was_taken_moves_no_cursor_tip_or_status(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    t = PolicyTerms(policy_id=1, quote_id=b"q" * 16)
    chain.mine([deposit_tx(t.tier, 100_000_000, 100_000_000, 100_000_000, "d1")])
    chain.burn()
    lease = Lease(store, "chain-listener", "old", ttl_s=30)
    assert await lease.acquire()
    listener = make_listener(store, client)
    assert (await listener.run_once(lease)).error is None  # a poll under the lease writes all three
    before = await snapshot(store, "chain_cursor", "chain_state", "chain_events")
    assert {d["_id"] for d in before["chain_state"]} >= {"tip", "listener"} and before["chain_cursor"]

    await taken_over(store, lease)
    chain.mine([creation_tx(t, t.collateral, t.premium)])  # the chain moves on: there is something to write
    chain.burn()
    with pytest.raises(LeaseLost):
        await listener.run_once(lease)
    assert await snapshot(store, "chain_cursor", "chain_state", "chain_events") == before


async def test_an_expiration_run_whose_lease_was_taken_moves_no_policy(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    policies = PolicyRepository(store)
    due = await policies.insert(
        make_policy(status_detailed=S.Active, policy_id_onchain=901, expiration_height=chain.burn_height - 10),
        Cause.REQUEST,
    )
    lifecycle = LifecycleService(
        store,
        policies,
        OracleService([], MongoPriceStore(store), OracleParameters()),
        TipCache(client),
        BackendTxQueue(store),
    )
    lease = Lease(store, "expiration", "old", ttl_s=30)
    assert await lease.acquire()
    await taken_over(store, lease)
    with pytest.raises(LeaseLost):
        await lifecycle.check_expirations(fence=lease)
    assert (await policies.require(due.id)).status_detailed is S.Active
    assert await store.db.backend_txs.count_documents({}) == 0

    holder = Lease(store, "expiration", "thief", ttl_s=30)
    holder.epoch = found(await store.db.leases.find_one({"_id": "expiration"}))["epoch"]  # the thief's own view
    assert due.id in (await lifecycle.check_expirations(fence=holder)).expiring  # the holder does move it


async def test_a_reconciliation_run_whose_lease_was_taken_reports_nothing(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    lease = Lease(store, "reconciliation", "old", ttl_s=30)
    assert await lease.acquire()
    await taken_over(store, lease)
    with pytest.raises(LeaseLost):
        await Reconciler(store, client, REGISTRY, confirmations=1).run_once(lease)
    assert await store.db.chain_state.find_one({"_id": "reconciliation"}) is None
