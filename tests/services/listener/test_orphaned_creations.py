"""A `policy-created` orphaned by a reorg: what becomes of the policy, by where it came from.

A policy the service only knows from the chain (inserted Active from the event: no quote of ours, so no
`quote_expiry_height`) has nothing that would ever complete or expire a pending creation; it fails, and a re-mined
creation makes it Active again. A policy created through our own quote goes back to PendingCreation, and the
quote-expiry job and the creation monitor decide, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from services.chain import StacksApiClient
from services.core.fencing import Unfenced
from services.core.status import StatusDetailed
from services.jobs.tx_monitor import CreationTxMonitor
from services.listener.poller import ChainListener, PollReport
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found

from .conftest import make_listener, pending_policy
from .fake_chain import FakeChain, FakeTx, PolicyTerms, creation_tx, deposit_tx, settlement_tx

S = StatusDetailed
BASE = 1_000_000_000


def terms(policy_id: int, tier: str = "Balanced") -> PolicyTerms:
    return PolicyTerms(policy_id=policy_id, quote_id=os.urandom(16), tier=tier)


async def _tier(store: MongoStore, name: str = "Balanced") -> tuple[int, int, int, int]:
    tier = await store.db.tiers.find_one({"_id": name})
    assert tier is not None
    return tier["capital_ustx"], tier["locked_ustx"], tier["premiums_ustx"], tier["settlements_ustx"]


@dataclass
class Created:
    """A deposit, then policy 1's creation (and perhaps one more transaction) mined above `fork`, applied by
    `listener`."""

    listener: ChainListener
    fork: int
    terms: PolicyTerms
    create: FakeTx

    async def orphan(self, chain: FakeChain) -> PollReport:
        """Reorg back to `fork` (the creation's transactions return to the mempool) and let the listener see it."""
        chain.reorg(self.fork)
        chain.burn()
        return await self.listener.poll_once()


async def created_on_chain(
    store: MongoStore,
    chain: FakeChain,
    client: StacksApiClient,
    then: Callable[[PolicyTerms], FakeTx] | None = None,
    quote_backed: bool = False,
) -> Created:
    chain.mine([deposit_tx("Balanced", BASE, BASE, BASE, "base")])
    fork = len(chain.blocks)
    t = terms(1)
    create = creation_tx(t, t.collateral, BASE)
    if quote_backed:
        await pending_policy(store, t, tx_id=create.txid)
    chain.mine([create])
    if then is not None:
        chain.mine([then(t)])  # built after the creation's block, at its burn height
    chain.burn()
    listener = make_listener(store, client)
    await listener.poll_once()
    return Created(listener, fork, t, create)


async def test_a_chain_only_policy_whose_creation_is_orphaned_fails_with_the_reason(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    created = await created_on_chain(store, chain, client)
    listener, create = created.listener, created.create
    repo = PolicyRepository(store)
    policy = await repo.get_by_onchain_id(1)
    assert policy is not None and policy.status_detailed is S.Active and policy.quote_expiry_height is None

    report = await created.orphan(chain)  # the tx is back in the mempool, and may never be mined again
    assert report.error is None and report.orphaned == 3
    assert report.details["reorg"]["policies"] == {policy.id: "FailedCreation"}

    failed = await repo.require(policy.id)
    assert failed.status_detailed is S.FailedCreation
    assert failed.failure_reason is not None and "creation block orphaned" in failed.failure_reason
    assert failed.policy_id_onchain is None and failed.status_onchain is None and failed.creation_height is None
    assert failed.tx_id_creation == create.txid
    history = await repo.history(policy.id)
    assert [(e.from_status, e.to_status, e.cause) for e in history] == [
        (None, S.Active, "chain"),
        (S.Active, S.PendingCreation, "reorg"),
        (S.PendingCreation, S.FailedCreation, "job"),
    ]
    verdict = history[-1].details
    assert verdict["reason"] == failed.failure_reason and verdict["tx_id"] == create.txid
    assert verdict["blocks"] and verdict["why"].startswith("reorg at height")
    # the tier is back to the deposit alone; there never was a reservation for a quote we did not issue
    assert await _tier(store) == (BASE, 0, 0, 0)
    assert await store.db.reservations.count_documents({}) == 0

    # nothing else touches it: the monitor follows PendingCreation policies only, and a later poll changes nothing
    await CreationTxMonitor(store, client, confirmations=1).run_once(Unfenced())
    chain.burn()
    await listener.poll_once()
    assert (await repo.require(policy.id)).version == failed.version


async def test_a_failed_orphaned_creation_mined_again_is_active_again(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    created = await created_on_chain(store, chain, client)
    listener, create, t = created.listener, created.create, created.terms
    repo = PolicyRepository(store)
    policy = await repo.get_by_onchain_id(1)
    assert policy is not None

    await created.orphan(chain)
    assert (await repo.require(policy.id)).status_detailed is S.FailedCreation

    chain.burn()
    block = chain.mine([create])  # the same transaction, in a later block of the new branch
    chain.burn()
    report = await listener.poll_once()
    assert report.error is None

    again = await repo.require(policy.id)
    assert again.status_detailed is S.Active and again.failure_reason is None
    assert again.policy_id_onchain == 1 and again.status_onchain == 0 and again.creation_height == block.height
    assert [(e.to_status, e.cause) for e in await repo.history(policy.id)] == [
        (S.Active, "chain"),
        (S.PendingCreation, "reorg"),
        (S.FailedCreation, "job"),
        (S.Active, "chain"),
    ]
    assert await store.db.policies.count_documents({}) == 1
    assert await _tier(store) == (BASE, t.collateral, t.premium, 0)  # the premium pending


async def test_a_settled_chain_only_policy_whose_creation_is_orphaned_fails_with_its_settlement_cleared(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    created = await created_on_chain(
        store,
        chain,
        client,
        then=lambda t: settlement_tx(t, 4_000_000, 1_000, chain.burn_height, 0, tier_capital_after=BASE - 4_000_000),
    )
    repo = PolicyRepository(store)
    policy = await repo.get_by_onchain_id(1)
    assert policy is not None and policy.status_detailed is S.Settled

    await created.orphan(chain)
    failed = await repo.require(policy.id)
    assert failed.status_detailed is S.FailedCreation
    assert failed.settlement_ustx is None and failed.tx_id_status_update is None and failed.settled_at is None
    assert [(e.from_status, e.to_status, e.cause) for e in await repo.history(policy.id)][-2:] == [
        (S.Settled, S.PendingCreation, "reorg"),
        (S.PendingCreation, S.FailedCreation, "job"),
    ]
    assert await _tier(store) == (BASE, 0, 0, 0)


async def test_a_quote_backed_policy_whose_creation_is_orphaned_waits_in_pending_creation(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    created = await created_on_chain(store, chain, client, quote_backed=True)
    create, quote = created.create, created.terms.quote_id.hex()
    repo = PolicyRepository(store)
    pending = await repo.get_by_onchain_id(1)  # the policy our quote created, now confirmed
    assert pending is not None and pending.quote_id == quote and pending.status_detailed is S.Active
    assert await store.db.policies.count_documents({}) == 1
    assert found(await store.db.reservations.find_one({"_id": quote}))["status"] == "converted"

    report = await created.orphan(chain)
    assert report.details["reorg"]["policies"] == {pending.id: "PendingCreation"}
    back = await repo.require(pending.id)
    assert back.status_detailed is S.PendingCreation and back.failure_reason is None
    assert back.policy_id_onchain is None and back.tx_id_creation == create.txid
    assert [(e.from_status, e.to_status, e.cause) for e in await repo.history(pending.id)][-1] == (
        S.Active,
        S.PendingCreation,
        "reorg",
    )
    assert found(await store.db.reservations.find_one({"_id": quote}))["status"] == "held"
    assert await _tier(store) == (BASE, 0, 0, 0)

    # the monitor decides once its quote lapsed with the tx still unmined (quote_expiry 10_000 in pending_policy)
    monitor = CreationTxMonitor(store, client, confirmations=1)
    assert await monitor.run_once(Unfenced()) == 0
    assert (await repo.require(pending.id)).status_detailed is S.PendingCreation
    chain.burn(10_000)
    assert await monitor.run_once(Unfenced()) == 1
    lapsed = await repo.require(pending.id)
    assert lapsed.status_detailed is S.FailedCreation and "quote expired" in (lapsed.failure_reason or "")
    assert found(await store.db.reservations.find_one({"_id": quote}))["status"] == "released"
