"""Leases (takeover, fencing, release), the singleton runner, the creation monitor, quote expiry and reconciliation,
against real SecantusDB and the scripted Hiro API on loopback."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from services.chain import StacksApiClient
from services.chain.verdict import classify_txid
from services.core.fencing import LeaseLost, Unfenced
from services.core.status import StatusDetailed
from services.jobs.reconciliation import Reconciler
from services.jobs.runner import run_singleton
from services.jobs.tx_monitor import CreationTxMonitor, QuoteExpiryJob
from services.listener.poller import ChainListener, ListenerConfig
from services.store.leases import Lease
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found
from tests.services.listener.conftest import make_listener, pending_policy
from tests.services.listener.fake_chain import (
    REGISTRY,
    VAULT,
    FakeChain,
    PolicyTerms,
    creation_tx,
    deposit_tx,
    settlement_tx,
)

S = StatusDetailed


def terms(policy_id: int) -> PolicyTerms:
    return PolicyTerms(policy_id=policy_id, quote_id=os.urandom(16))


async def test_a_lease_has_one_holder_and_passes_on_after_expiry_or_release(store: MongoStore) -> None:
    first = Lease(store, "job", "a", ttl_s=30)
    second = Lease(store, "job", "b", ttl_s=30)
    assert await first.acquire() and first.epoch == 1
    assert not await second.acquire() and not second.held
    assert await first.acquire() and first.epoch == 1  # re-acquiring renews
    await first.release()
    assert await second.acquire() and second.epoch == 2
    # b stops renewing (crash): its lease expires and a takes over with a new epoch
    await store.db.leases.update_one({"_id": "job"}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
    assert await first.acquire() and first.epoch == 3
    assert not await second.renew() and not second.held


async def test_a_lost_lease_cannot_commit_a_write(store: MongoStore) -> None:
    stale = Lease(store, "job", "stale", ttl_s=30)
    assert await stale.acquire()
    await store.db.leases.update_one({"_id": "job"}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
    fresh = Lease(store, "job", "fresh", ttl_s=30)
    assert await fresh.acquire()

    async def write(session: object) -> None:
        await stale.fence(session)  # type: ignore[arg-type]
        await store.db.things.insert_one({"by": "stale"}, session=session)  # type: ignore[arg-type]

    with pytest.raises(LeaseLost):
        await store.transaction(write)
    assert await store.db.things.count_documents({}) == 0 and not stale.held


async def test_a_listener_whose_lease_was_taken_applies_nothing(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    t = terms(1)
    chain.mine([creation_tx(t, t.collateral, t.premium)])
    chain.burn()
    lease = Lease(store, "chain-listener", "old", ttl_s=30)
    assert await lease.acquire()
    listener = ChainListener(store, client, ListenerConfig(REGISTRY, VAULT), lease)
    await store.db.leases.update_one({"_id": "chain-listener"}, {"$set": {"holder": "new", "epoch": 2}})
    with pytest.raises(LeaseLost):
        await listener.poll_once()
    assert await store.db.chain_events.count_documents({}) == 0
    assert await store.db.policies.count_documents({}) == 0


async def test_two_runners_share_the_work_and_apply_each_event_once(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    for n in range(1, 9):
        t = terms(n)
        chain.mine([deposit_tx(t.tier, 100_000_000, 100_000_000 * n, 100_000_000 * n, f"d{n}")])
        chain.mine([creation_tx(t, t.collateral * n, 100_000_000 * n, tier_pending=t.premium * n)], burn=n % 2)
    chain.burn()
    stop = asyncio.Event()
    listeners = [make_listener(store, client, page_size=3) for _ in range(2)]
    runs = [
        asyncio.create_task(run_singleton(store, job, f"holder-{i}", interval_s=0.05, ttl_s=1.5, stop=stop))
        for i, job in enumerate(listeners)
    ]
    for _ in range(300):
        if await store.db.policies.count_documents({"status_detailed": "Active"}) == 8:
            break
        await asyncio.sleep(0.05)
    # the holder steps down (as on shutdown); the other one takes over and keeps the cursor going
    holder = found(await store.db.leases.find_one({"_id": "chain-listener"}))["holder"]
    chain.mine([deposit_tx("Balanced", 1, 1, 1, "late")])
    chain.burn()
    runs[int(holder[-1])].cancel()
    for _ in range(300):
        if await store.db.chain_events.count_documents({"applied": True}) == 33:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*runs, return_exceptions=True)
    assert await store.db.policies.count_documents({"status_detailed": "Active"}) == 8
    counts = {d["apply_count"] for d in await store.db.chain_events.find().to_list(None)}
    assert counts == {1}
    assert sum(listener.metrics["applied"] for listener in listeners) == 33
    lease = await store.db.leases.find_one({"_id": "chain-listener"})
    assert lease is not None
    assert lease["holder"] != holder and lease["epoch"] >= 2


async def test_classify_txid_and_the_creation_monitor(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    aborted_terms, dropped_terms, late_terms, fine_terms = terms(1), terms(2), terms(3), terms(4)
    aborted = creation_tx(aborted_terms, 1, 1)
    aborted.status = "abort_by_response"
    fine = creation_tx(fine_terms, 1, 1)
    chain.mine([aborted, fine])
    late = creation_tx(late_terms, 1, 1)
    chain.mempool[late.txid] = late  # pending, while its quote expires
    dropped_id = "0x" + "ee" * 32
    policies = {
        "aborted": await pending_policy(store, aborted_terms, tx_id=aborted.txid),
        "dropped": await pending_policy(store, dropped_terms, tx_id=dropped_id),
        "late": await pending_policy(store, late_terms, tx_id=late.txid, quote_expiry=chain.burn_height),
        "fine": await pending_policy(store, fine_terms, tx_id=fine.txid),
    }
    verdict = await classify_txid(client, aborted.txid)
    assert verdict.state == "failed" and verdict.tx_status == "abort_by_response"
    assert (await classify_txid(client, dropped_id)).state == "not-found"
    assert (await classify_txid(client, fine.txid)).state == "success"

    monitor = CreationTxMonitor(store, client, confirmations=1)
    assert await monitor.run_once(Unfenced()) == 1  # only the aborted one is final; the late quote is still valid
    chain.burn(2)
    assert await monitor.run_once(Unfenced()) == 1  # now the late quote is past expiry + confirmations
    repo = PolicyRepository(store)
    states = {k: (await repo.require(p.id)).status_detailed for k, p in policies.items()}
    assert states == {
        "aborted": S.FailedCreation,
        "dropped": S.PendingCreation,
        "late": S.FailedCreation,
        "fine": S.PendingCreation,
    }
    failed = await repo.require(policies["aborted"].id)
    assert failed.failure_reason is not None and failed.failure_reason.startswith("abort_by_response")
    late_failed = await repo.require(policies["late"].id)
    assert "quote expired" in (late_failed.failure_reason or "")
    reservations = {d["_id"]: d["status"] for d in await store.db.reservations.find().to_list(None)}
    assert reservations[aborted_terms.quote_id.hex()] == "released"
    assert reservations[fine_terms.quote_id.hex()] == "held"
    assert (await repo.history(policies["aborted"].id))[-1].cause == "monitor"


async def test_quote_expiry_fails_lapsed_quotes_but_not_used_ones(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    used_terms, lapsed_terms, fresh_terms = terms(1), terms(2), terms(3)
    used = await pending_policy(store, used_terms, quote_expiry=chain.burn_height)
    lapsed = await pending_policy(store, lapsed_terms, quote_expiry=chain.burn_height)
    fresh = await pending_policy(store, fresh_terms, quote_expiry=chain.burn_height + 10)
    chain.used_quotes.add(used_terms.quote_id)  # a tx used it after all: the listener will decide
    job = QuoteExpiryJob(store, client, REGISTRY, confirmations=1)
    chain.burn(1)
    assert await job.run_once(Unfenced()) == 0  # expiry + confirmations not passed yet
    chain.burn(1)
    assert await job.run_once(Unfenced()) == 1
    repo = PolicyRepository(store)
    assert (await repo.require(used.id)).status_detailed is S.PendingCreation
    assert (await repo.require(fresh.id)).status_detailed is S.PendingCreation
    failed = await repo.require(lapsed.id)
    assert failed.status_detailed is S.FailedCreation and "with no transaction" in (failed.failure_reason or "")
    assert found(await store.db.reservations.find_one({"_id": lapsed_terms.quote_id.hex()}))["status"] == "released"
    assert found(await store.db.reservations.find_one({"_id": used_terms.quote_id.hex()}))["status"] == "held"


async def test_reconciliation_repairs_confirmed_drift_only(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    one, two, three = terms(1), terms(2), terms(3)
    chain.mine([creation_tx(one, 1, 1), creation_tx(two, 2, 2), creation_tx(three, 3, 3)])
    chain.burn()
    await make_listener(store, client).poll_once()
    burn = chain.burn_height
    chain.chain_policies = {
        1: {"status": 1, "status-height": burn - 1, "settlement-ustx": 7, "settlement-price-usd8": 11},
        2: {"status": 2, "status-height": burn, "settlement-ustx": 0, "settlement-price-usd8": 0},  # too young
    }  # 3 is unknown to the chain
    reconciler = Reconciler(store, client, REGISTRY, confirmations=1)
    assert await reconciler.run_once(Unfenced()) == 1
    repo = PolicyRepository(store)
    first = await repo.get_by_onchain_id(1)
    assert first is not None and first.status_detailed is S.Settled and first.status_onchain == 1
    assert (first.settlement_ustx, first.settlement_price_usd8) == (7, 11)
    assert (await repo.history(first.id))[-1].cause == "reconcile"
    assert (await repo.get_by_onchain_id(2)).status_detailed is S.Active  # type: ignore[union-attr]
    assert reconciler.metrics["missing_on_chain"] == 1 and reconciler.metrics["repairs"] == 1
    chain.burn()
    assert await reconciler.run_once(Unfenced()) == 1  # policy 2's expiry is confirmed now
    state = await store.db.chain_state.find_one({"_id": "reconciliation"})
    assert state is not None
    assert state["repairs_total"] == 2 and state["runs_total"] == 2
    assert await reconciler.run_once(Unfenced()) == 0  # nothing left to repair


async def test_reconciliation_leaves_a_change_the_listener_has_stored_but_not_applied_to_the_listener(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    """A listener that fell behind (or whose holder died mid-chunk) applies its stored events itself: the history
    then says `chain`, as in a run where nothing stalled, not `reconcile`."""
    t = terms(1)
    chain.mine([creation_tx(t, t.collateral, t.premium)])
    chain.burn()
    await make_listener(store, client).poll_once()
    settle = settlement_tx(
        t, payout=7, price=11, burn_height=chain.burn_height, tier_locked_after=0, tier_capital_after=t.premium - 7
    )
    chain.mine([settle])
    chain.burn()
    chain.chain_policies = {
        1: {"status": 1, "status-height": chain.burn_height - 1, "settlement-ustx": 7, "settlement-price-usd8": 11}
    }
    # the listener stores the settlement's events but applies nothing yet (it wants one more confirmation)
    report = await make_listener(store, client, confirmations=2).poll_once()
    assert report.ingested == 3 and report.applied == 0
    reconciler = Reconciler(store, client, REGISTRY, confirmations=1)
    assert await reconciler.run_once(Unfenced()) == 0
    assert reconciler.metrics["deferred"] == 1 and reconciler.metrics["repairs"] == 0
    assert found(await store.db.chain_state.find_one({"_id": "reconciliation"}))["last_deferred"] == 1
    repo = PolicyRepository(store)
    policy = await repo.get_by_onchain_id(1)
    assert policy is not None and policy.status_detailed is S.Active

    assert (await make_listener(store, client).poll_once()).applied == 3
    settled = await repo.require(policy.id)
    assert settled.status_detailed is S.Settled and settled.tx_id_status_update == settle.txid
    assert [h.cause for h in await repo.history(policy.id)][-1] == "chain"
    assert await reconciler.run_once(Unfenced()) == 0 and reconciler.metrics["deferred"] == 1
