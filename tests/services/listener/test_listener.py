"""The listener against a scripted Hiro API on loopback: confirmations, order, idempotency, tiers, policies."""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any

import pytest

from policy_registry.embedded.secantus import EmbeddedMongo
from services.chain import StacksApiClient
from services.core.status import StatusDetailed
from services.listener import apply
from services.listener.handlers import apply_event, apply_events
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found

from .conftest import make_listener, pending_policy, state_digest
from .fake_chain import (
    OWNER,
    VAULT,
    FakeChain,
    PolicyTerms,
    creation_tx,
    deposit_tx,
    settlement_tx,
)

S = StatusDetailed


def terms(policy_id: int, tier: str = "Balanced", **kw: int) -> PolicyTerms:
    return PolicyTerms(policy_id=policy_id, quote_id=os.urandom(16), tier=tier, **kw)  # type: ignore[arg-type]


async def test_unknown_request_becomes_an_active_policy_after_confirmations(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    chain.mine([deposit_tx("Balanced", 1_000_000_000, 1_000_000_000, 1_000_000_000, "a")])
    t = terms(1)
    block = chain.mine([creation_tx(t, tier_locked=t.collateral, tier_capital=1_000_000_000)], burn=1)
    listener = make_listener(store, client, confirmations=1)

    first = await listener.poll_once()
    assert first.error is None and first.ingested == 4
    # the deposit's burn block has a confirmation now; the creation shares the tip's burn block: not yet
    assert await store.db.policies.count_documents({}) == 0
    assert found(await store.db.tiers.find_one({"_id": "Balanced"}))["capital_ustx"] == 1_000_000_000

    chain.burn()
    second = await listener.poll_once()
    assert second.applied == 3
    policy = await PolicyRepository(store).get_by_onchain_id(1)
    assert policy is not None and policy.status_detailed is S.Active
    assert policy.owner == OWNER and policy.counterparty == VAULT and policy.quote_id == t.quote_id.hex()
    assert (policy.creation_height, policy.creation_burn_height) == (block.height, block.burn_height)
    assert policy.tx_id_creation == block.txs[0].txid and policy.status_onchain == 0
    assert (policy.premium_ustx, policy.collateral_ustx, policy.protected_value_usd8) == (
        t.premium,
        t.collateral,
        t.strike,
    )
    tier = await store.db.tiers.find_one({"_id": "Balanced"})
    assert tier is not None
    # the premium is pending until the policy closes: not capital yet
    assert (tier["capital_ustx"], tier["locked_ustx"], tier["pending_premiums_ustx"], tier["premiums_ustx"]) == (
        1_000_000_000,
        t.collateral,
        t.premium,
        t.premium,
    )
    assert tier["last_event"]["block_height"] == block.height
    history = await PolicyRepository(store).history(policy.id)
    assert [(h.to_status, h.cause) for h in history] == [(S.Active, "chain")]
    cursor = await store.db.chain_cursor.find_one({"_id": "listener"})
    assert cursor is not None
    assert cursor["applied_through"]["tx_id"] == block.txs[0].txid
    status = await store.db.chain_state.find_one({"_id": "listener"})
    assert status is not None
    assert status["last_error"] is None and status["pending_events"] == 0
    tip = await store.db.chain_state.find_one({"_id": "tip"})
    assert tip is not None
    assert tip["stacks_height"] == chain.tip.height and tip["chain_marker"] == chain.marker


async def test_requested_policy_activates_and_settles_and_its_reservation_converts(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    t = terms(1)
    create = creation_tx(t, tier_locked=t.collateral, tier_capital=100_000_000)
    pending = await pending_policy(store, t, tx_id=create.txid)
    chain.mine([deposit_tx(t.tier, 100_000_000, 100_000_000, 100_000_000, "p")])
    chain.mine([create])
    chain.burn()
    listener = make_listener(store, client)
    await listener.poll_once()
    active = await PolicyRepository(store).require(pending.id)
    assert active.status_detailed is S.Active and active.policy_id_onchain == 1
    assert found(await store.db.reservations.find_one({"_id": t.quote_id.hex()}))["status"] == "converted"

    settle = settlement_tx(
        t,
        payout=10_000_000,
        price=5_000_000_000_000,
        burn_height=chain.burn_height,
        tier_locked_after=0,
        tier_capital_after=100_000_000 - 10_000_000,
    )
    block = chain.mine([settle])
    chain.burn()
    report = await listener.poll_once()
    assert report.applied == 3
    settled = await PolicyRepository(store).require(pending.id)
    assert settled.status_detailed is S.Settled and settled.status_onchain == 1
    assert (settled.settlement_ustx, settled.settlement_price_usd8) == (10_000_000, 5_000_000_000_000)
    assert settled.tx_id_status_update == settle.txid and settled.settled_at is not None
    assert int(settled.settled_at.timestamp()) == block.time
    tier = await store.db.tiers.find_one({"_id": t.tier})
    assert tier is not None
    # the loss left capital, the premium vested into it
    assert (tier["capital_ustx"], tier["locked_ustx"], tier["pending_premiums_ustx"], tier["settlements_ustx"]) == (
        100_000_000 + t.premium - 10_000_000,
        0,
        0,
        10_000_000,
    )
    assert [(h.from_status, h.to_status) for h in await PolicyRepository(store).history(pending.id)] == [
        (None, S.PendingCreation),
        (S.PendingCreation, S.Active),
        (S.Active, S.Settled),
    ]


def build_history(chain: FakeChain, policies: int = 6) -> list[PolicyTerms]:
    capital = 0
    locked = {"Conservative": 0, "Balanced": 0, "Aggressive": 0}
    caps = dict.fromkeys(locked, 0)
    pending = dict.fromkeys(locked, 0)
    made = []
    for i, tier in enumerate(["Conservative", "Balanced", "Aggressive"]):
        capital = 500_000_000 * (i + 1)
        caps[tier] = capital
        chain.mine([deposit_tx(tier, capital, capital, capital, f"d{i}")], burn=i % 2)
    for n in range(1, policies + 1):
        tier = ["Conservative", "Balanced", "Aggressive"][n % 3]
        t = terms(n, tier)
        locked[tier] += t.collateral
        pending[tier] += t.premium
        txs = [creation_tx(t, locked[tier], caps[tier], tier_pending=pending[tier])]
        if n % 2 == 0:  # two transactions in one block: tx_index orders them
            extra = 1_000_000 * n
            caps[tier] += extra
            txs.append(deposit_tx(tier, extra, caps[tier], caps[tier], f"x{n}"))
        chain.mine(txs, burn=n % 2)
        made.append(t)
    for t in made[:2]:
        locked[t.tier] -= t.collateral
        caps[t.tier] -= 5_000_000
        pending[t.tier] -= t.premium
        settle = settlement_tx(
            t,
            5_000_000,
            1_000,
            chain.burn_height,
            locked[t.tier],
            tier_capital_after=caps[t.tier],
            tier_pending_after=pending[t.tier],
        )
        caps[t.tier] += t.premium
        chain.mine([settle])
    chain.burn()
    return made


async def second_store(mongo_server: EmbeddedMongo) -> MongoStore:
    other = MongoStore(mongo_server.uri, f"test_{uuid.uuid4().hex[:12]}", timeout_ms=3000)
    await other.ensure_indexes()
    return other


async def test_replays_twice_and_shuffled_pages_give_the_same_state(
    store: MongoStore, chain: FakeChain, client: StacksApiClient, mongo_server: EmbeddedMongo
) -> None:
    build_history(chain)
    plain = make_listener(store, client, page_size=4)
    await plain.poll_once()
    reference, ref_state = await state_digest(store)
    assert len(ref_state["policies"]) == 6 and ref_state["policies"]
    settled = [p for p in ref_state["policies"].values() if p["status_detailed"] == "Settled"]
    assert len(settled) == 2

    other = await second_store(mongo_server)
    try:
        chain.shuffle_pages = True
        chain.duplicate_rows = True
        scrambled = make_listener(other, client, page_size=3)
        await scrambled.poll_once()
        await scrambled.poll_once()  # a second full pass over the same rows
        # and every event once more straight through the handlers, in a shuffled order
        events = await other.db.chain_events.find({"applied": True}).to_list(None)
        chain.rng.shuffle(events)
        for event in events:
            await other.transaction(functools.partial(apply_event, other, event))
        digest, state = await state_digest(other)
        assert state == ref_state
        assert digest == reference
        counts = {d["apply_count"] for d in await other.db.chain_events.find({"applied": True}).to_list(None)}
        assert counts == {1}
    finally:
        await other.client.drop_database(other.db.name)
        await other.close()


async def test_events_apply_in_chain_order_across_contracts_and_pages(
    store: MongoStore, chain: FakeChain, client: StacksApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_history(chain, policies=4)
    chain.shuffle_pages = True
    # the order the handlers see (events of one chunk share their applied_at, so the stored times cannot tell)
    seen: list[dict[str, Any]] = []

    async def recording(mongo: MongoStore, events: list[dict[str, Any]], session: Any) -> Any:
        seen.extend(events)
        return await apply_events(mongo, events, session)

    monkeypatch.setattr(apply, "apply_events", recording)
    listener = make_listener(store, client, page_size=2, apply_chunk=4, apply_batch=6)
    await listener.poll_once()
    applied = await store.db.chain_events.count_documents({"applied": True})
    assert len(seen) == applied > 20
    positions = [(e["block_height"], e["tx_index"], e["event_index"]) for e in seen]
    assert positions == sorted(positions)
    # the creation's vault prints precede its registry print inside one transaction
    first_create = [e for e in seen if e["tx_id"] == seen[3]["tx_id"]]
    assert [e["event"] for e in first_create] == ["collateral-locked", "premium-received", "policy-created"]


async def test_unconfirmed_events_wait_and_zero_confirmations_apply_at_once(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    t = terms(1)
    chain.mine([creation_tx(t, t.collateral, t.premium)], burn=1)
    strict = make_listener(store, client, confirmations=3)
    await strict.poll_once()
    assert await store.db.policies.count_documents({}) == 0
    assert found(await store.db.chain_state.find_one({"_id": "listener"}))["pending_events"] == 3
    chain.burn(2)
    await strict.poll_once()
    assert await store.db.policies.count_documents({}) == 0
    chain.burn(1)
    await strict.poll_once()
    assert await store.db.policies.count_documents({"status_detailed": "Active"}) == 1


async def test_an_event_inconsistent_with_our_records_is_invalid_and_does_not_block_the_rest(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    squatter, t, later = terms(1), terms(1), terms(2)
    stale = await pending_policy(store, squatter)
    await store.db.policies.update_one({"quote_id": squatter.quote_id.hex()}, {"$set": {"policy_id_onchain": 1}})
    mine = await pending_policy(store, t)
    chain.mine([creation_tx(t, t.collateral, t.premium)])
    chain.mine([creation_tx(later, 2 * t.collateral, 2 * t.premium)])
    chain.burn()
    report = await make_listener(store, client).poll_once()
    assert report.error is None and report.invalid == 1
    bad = await store.db.chain_events.find_one({"outcome": "invalid"})
    assert bad is not None
    assert bad["event"] == "policy-created" and str(stale.id) in bad["reason"]
    assert (await PolicyRepository(store).require(mine.id)).status_detailed is S.PendingCreation
    assert (await PolicyRepository(store).get_by_onchain_id(2)).status_detailed is S.Active  # type: ignore[union-attr]


async def test_a_deposit_minting_more_shares_than_int64_holds_is_mirrored(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    """The vault mints 10^6 shares per uSTX (up to 2^24 after losses): 10M STX mint 10^19 shares, past int64. The
    share counts are no part of the mirror and are stored as decimal strings; the deposit still applies."""
    big = 10_000_000 * 1_000_000  # 10M STX in uSTX
    chain.mine([deposit_tx("Conservative", big, big, big * 1_000_000, "whale")])
    chain.mine([deposit_tx("Conservative", 1_000_000, big + 1_000_000, (big + 1_000_000) * 1_000_000, "minnow")])
    chain.burn()
    report = await make_listener(store, client).poll_once()
    assert report.error is None and report.invalid == 0 and report.applied == 2
    tier = await store.db.tiers.find_one({"_id": "Conservative"})
    assert tier is not None
    assert tier["capital_ustx"] == big + 1_000_000
    stored = await store.db.chain_events.find({"event": "funds-deposited", "outcome": "applied"}).to_list(None)
    assert sorted(str(e["payload"]["shares"]) for e in stored) == sorted([str(big * 1_000_000), str(10**12)])
