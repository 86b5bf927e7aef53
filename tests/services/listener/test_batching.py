"""A chunk of events is read once, applied in memory in chain order and written back in bulk: the same results as
one event at a time, a fixed number of round trips per chunk, and an event the status machine rejects recorded
invalid without stopping the events after it."""

from __future__ import annotations

import os

from pymongo import AsyncMongoClient, monitoring

from policy_registry.embedded.secantus import EmbeddedMongo
from services.chain import StacksApiClient
from services.chain.clarity import string_ascii_cv, to_hex, tuple_cv, uint_cv
from services.core.status import StatusDetailed
from services.listener.handlers import apply_events
from services.store.chain_events import CHAIN_ORDER
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found

from .conftest import make_listener, pending_policy, state_digest
from .fake_chain import REGISTRY, FakeChain, FakeTx, PolicyTerms, creation_tx, deposit_tx, h, settlement_tx

S = StatusDetailed
CAPITAL = 1_000_000_000


def terms(policy_id: int) -> PolicyTerms:
    return PolicyTerms(policy_id=policy_id, quote_id=os.urandom(16))


def expiry_print_tx(t: PolicyTerms, salt: str) -> FakeTx:
    """A lone `policy-status-updated u2` (what a buggy or replayed chain could print for a settled policy)."""
    value = to_hex(
        tuple_cv(
            {
                "event": string_ascii_cv("policy-status-updated"),
                "policy-id": uint_cv(t.policy_id),
                "previous-status": uint_cv(0),
                "new-status": uint_cv(2),
                "settlement-ustx": uint_cv(0),
                "settlement-price-usd8": uint_cv(0),
                "block-height": uint_cv(1),
            }
        )
    )
    return FakeTx(h("expire", t.policy_id, salt), [(REGISTRY, value)], function="update-policy-status")


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def counting_store(uri: str, database: str, counter: CommandCounter) -> MongoStore:
    """The same database through a client that counts the commands it sends."""
    other = MongoStore(uri, database)
    other.client = AsyncMongoClient(uri, tz_aware=True, event_listeners=[counter])
    other.db = other.client[database]
    return other


async def test_one_chunk_moves_a_policy_several_times_with_a_fixed_number_of_round_trips(
    store: MongoStore, chain: FakeChain, client: StacksApiClient, mongo_server: EmbeddedMongo
) -> None:
    requested, unknown = terms(1), terms(2)
    pending = await pending_policy(store, requested)
    chain.mine([deposit_tx("Balanced", CAPITAL, CAPITAL, CAPITAL, "d")])
    locked = requested.collateral
    chain.mine([creation_tx(requested, locked, CAPITAL)])
    pending_both = requested.premium + unknown.premium
    chain.mine([creation_tx(unknown, locked + unknown.collateral, CAPITAL, tier_pending=pending_both)])
    settle = settlement_tx(
        requested,
        4_000_000,
        1_000,
        chain.burn_height,
        unknown.collateral,
        tier_capital_after=CAPITAL - 4_000_000,
        tier_pending_after=unknown.premium,
    )
    chain.mine([settle], burn=0)
    listener = make_listener(store, client, confirmations=100)
    await listener.poll_once()  # ingests everything; nothing is confirmed yet
    keys = [e["_id"] for e in await store.db.chain_events.find().sort(CHAIN_ORDER).to_list(None)]
    assert len(keys) == 10 and await store.db.chain_events.count_documents({"outcome": "pending"}) == 10

    counter = CommandCounter()
    counting = counting_store(mongo_server.uri, store.db.name, counter)
    try:
        outcomes = await make_listener(counting, client).apply_many(keys)  # one chunk, one transaction
    finally:
        await counting.close()
    assert outcomes == ["applied"] * 10
    # reads: the events, policies by quote and by on-chain id, the tiers, and the snapshot before the tier's first
    # event (only while the tier has none); writes: policies inserted and updated, their audit entries, tiers,
    # reservations, the events' outcomes, the cursor; one commit. Not one more for more events.
    sent = [name for name in counter.names if name != "endSessions"]
    assert sent == ["find"] * 5 + ["insert", "update", "insert"] + ["update"] * 4 + ["commitTransaction"], sent

    repo = PolicyRepository(store)
    settled = await repo.require(pending.id)
    assert settled.status_detailed is S.Settled and settled.version == 2
    assert (settled.settlement_ustx, settled.tx_id_status_update) == (4_000_000, settle.txid)
    assert [(e.version, e.from_status, e.to_status, e.cause) for e in await repo.history(pending.id)] == [
        (0, None, S.PendingCreation, "request"),
        (1, S.PendingCreation, S.Active, "chain"),
        (2, S.Active, S.Settled, "chain"),
    ]
    created = await repo.get_by_onchain_id(2)
    assert created is not None and created.status_detailed is S.Active and created.version == 0
    assert found(await store.db.reservations.find_one({"_id": requested.quote_id.hex()}))["status"] == "converted"
    tier = await store.db.tiers.find_one({"_id": "Balanced"})
    assert tier is not None
    # the settled policy's premium vested; the open one's is still pending
    assert (tier["capital_ustx"], tier["locked_ustx"], tier["pending_premiums_ustx"], tier["settlements_ustx"]) == (
        CAPITAL + requested.premium - 4_000_000,
        unknown.collateral,
        unknown.premium,
        4_000_000,
    )
    events = await store.db.chain_events.find().to_list(None)
    assert all(e["outcome"] == "applied" and e["applied"] and e["apply_count"] == 1 for e in events)
    cursor = await store.db.chain_cursor.find_one({"_id": "listener"})
    assert cursor is not None
    assert cursor["applied_through"]["tx_id"] == settle.txid


async def test_an_event_the_status_machine_rejects_mid_chunk_is_invalid_and_the_rest_applies(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    first, second = terms(1), terms(2)
    chain.mine([deposit_tx("Balanced", CAPITAL, CAPITAL, CAPITAL, "d")])
    chain.mine([creation_tx(first, first.collateral, CAPITAL)])
    settle = settlement_tx(first, 4_000_000, 1_000, chain.burn_height, 0, tier_capital_after=CAPITAL - 4_000_000)
    chain.mine([settle])
    bad = expiry_print_tx(first, "replayed")  # Settled → Expired: not a move the status machine allows
    chain.mine([bad])
    later = creation_tx(second, second.collateral, CAPITAL + first.premium - 4_000_000)
    chain.mine([later])
    chain.burn()
    listener = make_listener(store, client)
    report = await listener.poll_once()
    assert report.error is None and (report.applied, report.invalid) == (10, 1)

    rejected = await store.db.chain_events.find_one({"tx_id": bad.txid})
    assert rejected is not None
    assert rejected["outcome"] == "invalid" and not rejected["applied"] and rejected["apply_count"] == 0
    assert "is Settled; the chain says Expired" in rejected["reason"]
    repo = PolicyRepository(store)
    policy = await repo.get_by_onchain_id(1)
    assert policy is not None and policy.status_detailed is S.Settled and policy.status_onchain == 1
    assert policy.tx_id_status_update == settle.txid and policy.settlement_ustx == 4_000_000
    assert [(e.from_status, e.to_status) for e in await repo.history(policy.id)] == [
        (None, S.Active),
        (S.Active, S.Settled),
    ]
    after = await repo.get_by_onchain_id(2)
    assert after is not None and after.status_detailed is S.Active
    cursor = await store.db.chain_cursor.find_one({"_id": "listener"})
    assert cursor is not None
    assert cursor["applied_through"]["tx_id"] == later.txid

    # applying the rejected event again (alone, or in a chunk of everything) still changes nothing
    before, _ = await state_digest(store)
    everything = await store.db.chain_events.find().to_list(None)
    chain.rng.shuffle(everything)
    results = await store.transaction(lambda s: apply_events(store, everything, s))
    assert {r.outcome for r in results} == {"applied", "invalid"}
    assert (await state_digest(store))[0] == before


async def test_a_replayed_chunk_in_any_order_changes_nothing(
    store: MongoStore, chain: FakeChain, client: StacksApiClient
) -> None:
    made = [terms(n) for n in (1, 2, 3)]
    pending = 0
    locked = 0
    chain.mine([deposit_tx("Balanced", CAPITAL, CAPITAL, CAPITAL, "d")])
    for t in made:
        await pending_policy(store, t) if t.policy_id != 2 else None
        locked += t.collateral
        pending += t.premium
        chain.mine([creation_tx(t, locked, CAPITAL, tier_pending=pending)])
    locked -= made[0].collateral
    settle = settlement_tx(
        made[0],
        1_000_000,
        1_000,
        chain.burn_height,
        locked,
        tier_capital_after=CAPITAL - 1_000_000,
        tier_pending_after=pending - made[0].premium,
    )
    chain.mine([settle])
    chain.burn()
    await make_listener(store, client).poll_once()
    reference, state = await state_digest(store)
    assert len(state["policies"]) == 3

    events = await store.db.chain_events.find({"applied": True}).to_list(None)
    for _ in range(3):
        chain.rng.shuffle(events)
        results = await store.transaction(lambda s: apply_events(store, events, s))
        assert {r.outcome for r in results} == {"applied"}
        assert (await state_digest(store))[0] == reference
