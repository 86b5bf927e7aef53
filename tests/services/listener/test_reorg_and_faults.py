"""Reorgs, chain restarts, API faults and garbage, and chainStatus, against the scripted Hiro API."""

from __future__ import annotations

import os

import httpx

from policy_registry.container import Services
from services.chain import StacksApiClient
from services.core.status import Cause, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found

from .conftest import make_listener, pending_policy, state_digest
from .fake_chain import (
    REGISTRY,
    FakeChain,
    Fault,
    PolicyTerms,
    creation_tx,
    deposit_tx,
    malformed_created_tx,
    settlement_tx,
    unknown_tx,
)

S = StatusDetailed


def terms(policy_id: int, tier: str = "Balanced") -> PolicyTerms:
    return PolicyTerms(policy_id=policy_id, quote_id=os.urandom(16), tier=tier)


async def test_a_reorg_ends_with_the_state_of_the_surviving_chain(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    chain.mine([deposit_tx("Balanced", 1_000_000_000, 1_000_000_000, 1_000_000_000, "base")])
    fork = len(chain.blocks)
    lost = terms(1)
    lost_create = creation_tx(lost, lost.collateral, 1_000_000_000)
    pending = await pending_policy(store, lost, tx_id=lost_create.txid)
    chain.mine([lost_create])
    chain.mine(
        [settlement_tx(lost, 4_000_000, 1_000, chain.burn_height, 0, tier_capital_after=1_000_000_000 - 4_000_000)]
    )
    chain.burn()
    listener = make_listener(store, client)
    await listener.poll_once()
    assert (await PolicyRepository(store).require(pending.id)).status_detailed is S.Settled

    # the blocks from `fork` up are orphaned; another branch has a different policy 1 and a bigger deposit
    chain.reorg(fork)
    won = terms(1)
    chain.mine([creation_tx(won, won.collateral, 1_000_000_000, salt="other")])
    chain.mine([deposit_tx("Balanced", 7_000_000, 1_000_000_000 + 7_000_000, 0, "after")])
    chain.burn()
    report = await listener.poll_once()
    assert report.error is None and report.orphaned == 6

    lost_now = await PolicyRepository(store).require(pending.id)
    assert lost_now.status_detailed is S.PendingCreation
    assert lost_now.policy_id_onchain is None and lost_now.settlement_ustx is None
    assert lost_now.tx_id_creation == lost_create.txid  # the monitor keeps following it
    assert [(h.from_status, h.to_status, h.cause) for h in await PolicyRepository(store).history(pending.id)][-1] == (
        S.Settled,
        S.PendingCreation,
        "reorg",
    )
    assert found(await store.db.reservations.find_one({"_id": lost.quote_id.hex()}))["status"] == "held"
    winner = await PolicyRepository(store).get_by_onchain_id(1)
    assert winner is not None and winner.quote_id == won.quote_id.hex() and winner.status_detailed is S.Active
    tier = await store.db.tiers.find_one({"_id": "Balanced"})
    assert tier is not None
    assert (tier["capital_ustx"], tier["locked_ustx"], tier["pending_premiums_ustx"], tier["settlements_ustx"]) == (
        1_000_000_000 + 7_000_000,
        won.collateral,
        won.premium,
        0,
    )
    assert await store.db.chain_events.count_documents({"canonical": False, "outcome": "orphaned"}) == 6
    status = await store.db.chain_state.find_one({"_id": "listener"})
    assert status is not None
    assert status["orphaned_total"] == 6


async def test_a_reorged_tx_mined_again_is_applied_again_in_its_new_block(
    store: MongoStore, chain: FakeChain, client: StacksApiClient, mongo_server: object
) -> None:
    chain.mine([deposit_tx("Aggressive", 900_000_000, 900_000_000, 900_000_000, "base")])
    fork = len(chain.blocks)
    t = terms(1, "Aggressive")
    create = creation_tx(t, t.collateral, 900_000_000)
    chain.mine([create])
    chain.burn()
    listener = make_listener(store, client)
    await listener.poll_once()
    first_hash = found(await store.db.chain_events.find_one({"tx_id": create.txid}))["block_hash"]

    chain.reorg(fork)
    await listener.poll_once()  # the tx is pending again; with no quote of ours behind it, the policy failed
    assert (await PolicyRepository(store).get_by_onchain_id(1)) is None
    chain.burn()  # an empty block first: the re-mined tx lands at another height
    block = chain.mine([create])
    chain.burn()
    await listener.poll_once()
    policy = await PolicyRepository(store).get_by_onchain_id(1)
    assert policy is not None and policy.status_detailed is S.Active and policy.creation_height == block.height
    events = await store.db.chain_events.find({"tx_id": create.txid}).to_list(None)
    assert {e["block_hash"] for e in events} == {block.hash} != {first_hash}
    assert all(e["canonical"] and e["applied"] and e["apply_count"] == 2 for e in events)
    assert [(h.to_status, h.cause) for h in await PolicyRepository(store).history(policy.id)] == [
        (S.Active, "chain"),
        (S.PendingCreation, "reorg"),
        (S.FailedCreation, "job"),
        (S.Active, "chain"),
    ]
    tier = await store.db.tiers.find_one({"_id": "Aggressive"})
    assert tier is not None
    assert (tier["locked_ustx"], tier["premiums_ustx"]) == (t.collateral, t.premium)


async def test_a_reorg_of_a_settlement_reopens_the_policy_to_its_previous_status(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    chain.mine([deposit_tx("Balanced", 1_000_000_000, 1_000_000_000, 1_000_000_000, "base")])
    t = terms(1)
    chain.mine([creation_tx(t, t.collateral, 1_000_000_000)])
    chain.burn()
    listener = make_listener(store, client)
    await listener.poll_once()
    policy = await PolicyRepository(store).get_by_onchain_id(1)
    assert policy is not None
    settling = await PolicyRepository(store).transition(policy, S.Settling, Cause.REQUEST)
    fork = len(chain.blocks)
    chain.mine([settlement_tx(t, 4_000_000, 1_000, chain.burn_height, 0, tier_capital_after=1_000_000_000 - 4_000_000)])
    chain.burn()
    await listener.poll_once()
    assert (await PolicyRepository(store).require(settling.id)).status_detailed is S.Settled
    chain.reorg(fork)
    chain.burn()
    await listener.poll_once()
    reopened = await PolicyRepository(store).require(settling.id)
    assert reopened.status_detailed is S.Settling and reopened.status_onchain == 0
    assert reopened.tx_id_status_update is None and reopened.settlement_ustx is None
    tier = await store.db.tiers.find_one({"_id": "Balanced"})
    assert tier is not None
    assert (tier["capital_ustx"], tier["locked_ustx"], tier["pending_premiums_ustx"], tier["settlements_ustx"]) == (
        1_000_000_000,
        t.collateral,
        t.premium,
        0,
    )


async def test_outages_rate_limits_and_garbage_are_survived_and_never_applied(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    chain.mine([deposit_tx("Balanced", 1_000_000_000, 1_000_000_000, 1_000_000_000, "base")])
    chain.mine([unknown_tx("u"), malformed_created_tx("m")])
    t = terms(1)
    chain.mine([creation_tx(t, t.collateral, 1_000_000_000)])
    chain.burn()
    listener = make_listener(store, client)

    # the API is down for longer than the client's retries: the poll reports it and applies nothing
    chain.faults.append(Fault("/v2/info", 503, times=3))
    down = await listener.poll_once()
    assert down.error is not None and "StacksApiUnavailable" in down.error
    assert found(await store.db.chain_state.find_one({"_id": "listener"}))["last_error"] == down.error
    assert await store.db.chain_events.count_documents({}) == 0

    # one 429 with retry-after and one 500 inside the retry budget, a malformed JSON answer for one tx
    chain.faults += [
        Fault("/extended/v2/smart-contracts", 429, headers={"retry-after": "0.05"}),
        Fault("/extended/v1/tx/", 500),
    ]
    survived = await listener.poll_once()
    assert survived.error is None
    chain.faults.append(Fault("/extended", 200, raw=b"{not json"))
    broken = await listener.poll_once()
    assert broken.error is not None and "ChainProtocolError" in broken.error

    # a row without a tx_id makes its page unreadable: logged, retried every poll, nothing half-applied
    chain.extra_rows[REGISTRY] = [{"event_index": 0, "event_type": "smart_contract_log", "contract_log": {}}]
    stuck = await listener.poll_once()
    assert stuck.error is not None
    chain.extra_rows.clear()
    healed = await listener.poll_once()
    assert healed.error is None

    outcomes = {d["event"] or "unknown": d["outcome"] for d in await store.db.chain_events.find().to_list(None)}
    assert outcomes["unknown"] == "ignored"
    invalid = await store.db.chain_events.find_one({"outcome": "invalid"})
    assert invalid is not None and "missing or malformed" in invalid["reason"] and not invalid["applied"]
    assert await PolicyRepository(store).get_by_onchain_id(999) is None
    active = await PolicyRepository(store).get_by_onchain_id(1)
    assert active is not None and active.status_detailed is S.Active
    assert found(await store.db.chain_state.find_one({"_id": "listener"}))["last_error"] is None


async def test_a_chain_restart_halts_until_accepted_then_follows_the_new_chain(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    t = terms(1)
    chain.mine([deposit_tx("Balanced", 1_000_000_000, 1_000_000_000, 1_000_000_000, "base")])
    chain.mine([creation_tx(t, t.collateral, 1_000_000_000)])
    chain.burn()
    listener = make_listener(store, client)
    await listener.poll_once()
    before, _ = await state_digest(store)

    # the devnet restarted: new marker, new history
    old_marker = chain.marker
    chain.marker = "b" * 32
    chain.blocks = chain.blocks[:1]
    chain.mine([deposit_tx("Balanced", 5_000_000, 5_000_000, 5_000_000, "new")])
    chain.burn()
    halted = await listener.poll_once()
    assert halted.halted and "another chain" in (halted.error or "")
    assert (await state_digest(store))[0] == before  # nothing mixed in
    published = await store.db.chain_state.find_one({"_id": "listener"})
    assert published is not None
    assert published["halted"] and "accept-chain-restart" in published["last_error"]

    listener.accept_restart_once = True
    accepted = await listener.poll_once()
    assert accepted.error is None and not accepted.halted
    # known only from the old chain's event (no quote of ours): nothing would end a pending creation, so it failed
    policy = await store.db.policies.find_one({"quote_id": t.quote_id.hex()})
    assert policy is not None
    assert policy["status_detailed"] == "FailedCreation" and policy["policy_id_onchain"] is None
    assert policy["failure_reason"].startswith("creation block orphaned: chain restarted")
    tier = await store.db.tiers.find_one({"_id": "Balanced"})
    assert tier is not None
    assert (tier["capital_ustx"], tier["locked_ustx"]) == (5_000_000, 0)
    cursor = await store.db.chain_cursor.find_one({"_id": "listener"})
    assert cursor is not None
    assert cursor["chain_marker"] == "b" * 32 and cursor["previous_marker"] == old_marker


async def test_chain_status_query(
    services: Services, api: httpx.AsyncClient, chain: FakeChain, client: StacksApiClient
) -> None:
    t = terms(1)
    chain.mine([creation_tx(t, t.collateral, t.premium)])
    chain.burn()
    listener = make_listener(services.store, client, confirmations=2)
    await listener.poll_once()
    query = """{ chainStatus { stacksHeight burnHeight tipHash chainMarker cursorHeight syncedHeight lagBlocks
        pendingEvents confirmations halted lastError lastPollAt eventsApplied reconciliationRepairs } }"""
    body = (await api.post("/graphql", json={"query": query})).json()
    status = body["data"]["chainStatus"]
    assert status["stacksHeight"] == chain.tip.height and status["burnHeight"] == chain.burn_height
    assert status["chainMarker"] == chain.marker and status["tipHash"] == chain.tip.hash
    assert status["pendingEvents"] == 3 and status["cursorHeight"] is None and status["confirmations"] == 2
    assert status["lagBlocks"] == 0 and status["halted"] is False and status["lastError"] is None
    chain.burn()
    await listener.poll_once()
    status = (await api.post("/graphql", json={"query": query})).json()["data"]["chainStatus"]
    assert (
        status["pendingEvents"] == 0 and status["eventsApplied"] == 3 and status["cursorHeight"] == chain.tip.height - 2
    )
