"""The change feed against SecantusDB: any writer's changes, the chain tip, resume tokens, outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from policy_registry.embedded.process import free_port
from policy_registry.embedded.secantus import EmbeddedMongo
from services.core.models import PolicyRecord
from services.core.status import Cause, StatusDetailed
from services.pubsub.broker import TIP_TOPIC, Broker, owner_topic, policy_topic
from services.pubsub.events import TipRecord
from services.pubsub.feed import ChangeFeed
from services.pubsub.subscriber import Subscriber
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.factories import OWNER_A, OWNER_B, make_policy

S = StatusDetailed


@pytest.fixture
async def writer(mongo_server: EmbeddedMongo, db_name: str) -> AsyncIterator[PolicyRepository]:
    """Another client on the same database: a job or another replica writing."""
    other = MongoStore(mongo_server.uri, db_name, timeout_ms=3000)
    yield PolicyRepository(other)
    await other.close()


async def started(feed: ChangeFeed) -> ChangeFeed:
    feed.start()
    await asyncio.wait_for(feed.ready.wait(), 10)
    return feed


async def take(sub: Subscriber[PolicyRecord], within: float = 5) -> PolicyRecord:
    return await asyncio.wait_for(sub.get(), within)


async def test_every_writers_policy_changes_reach_their_topics(store: MongoStore, writer: PolicyRepository) -> None:
    broker = Broker(100, 30)
    by_owner = broker.subscribe(owner_topic(OWNER_A))
    other_owner = broker.subscribe(owner_topic(OWNER_B))
    feed = await started(ChangeFeed(store, broker, "feed-test"))
    try:
        record = await writer.insert(make_policy(owner=OWNER_A), Cause.REQUEST)
        first = await take(by_owner)
        assert (first.id, first.version, first.status_detailed) == (record.id, 0, S.PendingCreation)
        by_id = broker.subscribe(policy_topic(record.id))
        active = await writer.transition(record, S.Active, Cause.CHAIN, changes={"policy_id_onchain": 7})
        assert await take(by_owner) == active and active.policy_id_onchain == 7
        assert (await take(by_id)).version == 1
        assert other_owner.pending == 0
    finally:
        await feed.stop()


async def test_an_unreadable_document_is_skipped_and_the_feed_goes_on(
    store: MongoStore, writer: PolicyRepository, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker(100, 30)
    seen = broker.subscribe(owner_topic(OWNER_A))
    feed = await started(ChangeFeed(store, broker, "poison"))
    try:
        with caplog.at_level(logging.WARNING, logger="services.pubsub.feed"):
            await store.db.policies.insert_one({"owner": OWNER_A, "status_detailed": "Active"})  # not a policy
            good = await writer.insert(make_policy(), Cause.REQUEST)
            assert (await take(seen)).id == good.id
        assert "malformed policy document" in caplog.text
    finally:
        await feed.stop()


async def test_the_chain_tip_is_published_and_other_chain_state_is_not(store: MongoStore) -> None:
    broker = Broker(100, 30)
    tips: Subscriber[TipRecord] = broker.subscribe(TIP_TOPIC)
    feed = await started(ChangeFeed(store, broker, "tip-test"))
    try:
        await store.db.chain_state.update_one({"_id": "listener"}, {"$set": {"lag_blocks": 0}}, upsert=True)
        await store.db.chain_state.update_one(
            {"_id": "tip"},
            {"$set": {"stacks_height": 120, "burn_height": 140, "block_hash": "0x" + "ab" * 32}},
            upsert=True,
        )
        tip = await asyncio.wait_for(tips.get(), 5)
        assert (tip.stacks_height, tip.burn_height, tip.block_hash) == (120, 140, "0x" + "ab" * 32)
        # a marker: more listener state, then a later tip; the next (and only) message is that tip
        await store.db.chain_state.update_one({"_id": "listener"}, {"$set": {"lag_blocks": 1}})
        await store.db.chain_state.update_one({"_id": "tip"}, {"$set": {"stacks_height": 121}})
        assert (await asyncio.wait_for(tips.get(), 5)).stacks_height == 121
        assert tips.pending == 0
    finally:
        await feed.stop()


async def test_a_restarted_feed_resumes_from_its_saved_token(store: MongoStore, writer: PolicyRepository) -> None:
    broker = Broker(100, 30)
    seen = broker.subscribe(owner_topic(OWNER_A))
    feed = await started(ChangeFeed(store, broker, "replica-1:8000"))
    first = await writer.insert(make_policy(), Cause.REQUEST)
    assert (await take(seen)).id == first.id
    await feed.stop()
    saved = await store.db.stream_tokens.find_one({"_id": "replica-1:8000"})
    assert saved is not None and saved["token"]

    missed = await writer.insert(make_policy(), Cause.REQUEST)  # while the process is down
    moved = await writer.transition(first, S.Active, Cause.CHAIN)

    broker = Broker(100, 30)
    seen = broker.subscribe(owner_topic(OWNER_A))
    feed = await started(ChangeFeed(store, broker, "replica-1:8000"))
    try:
        got = [await take(seen), await take(seen)]
        assert [(r.id, r.version) for r in got] == [(missed.id, 0), (first.id, moved.version)]
        marker = await writer.insert(make_policy(), Cause.REQUEST)
        assert (await take(seen)).id == marker.id  # nothing before the saved token is replayed
        assert seen.pending == 0
    finally:
        await feed.stop()


async def test_a_rejected_token_restarts_from_now_and_resyncs_live_subscribers(
    store: MongoStore, writer: PolicyRepository, caplog: pytest.LogCaptureFixture
) -> None:
    record = await writer.insert(make_policy(), Cause.REQUEST)
    active = await writer.transition(record, S.Active, Cause.CHAIN)
    await store.db.stream_tokens.insert_one({"_id": "lost", "token": {"_data": "00"}})
    broker = Broker(100, 30)
    watching = broker.subscribe(policy_topic(record.id))
    with caplog.at_level(logging.WARNING, logger="services.pubsub.feed"):
        feed = await started(ChangeFeed(store, broker, "lost"))
    try:
        assert await take(watching) == active  # the current state, re-read after the gap
        assert "resume token rejected" in caplog.text
        settling = await writer.transition(active, S.Settling, Cause.REQUEST)
        assert await take(watching) == settling
    finally:
        await feed.stop()


async def test_the_feed_survives_a_database_outage(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "db"
    server = EmbeddedMongo(data, log_path=tmp_path / "secantus.log", port=port).start()
    store = MongoStore(server.uri, "outage", timeout_ms=500)
    writer_store = MongoStore(server.uri, "outage", timeout_ms=2000)
    writer = PolicyRepository(writer_store)
    broker = Broker(100, 30)
    seen = broker.subscribe(owner_topic(OWNER_A))
    feed = ChangeFeed(store, broker, "outage", max_backoff_s=0.5)
    try:
        await started(feed)
        before = await writer.insert(make_policy(), Cause.REQUEST)
        assert (await take(seen)).id == before.id
        server.stop()
        for _ in range(200):  # the stream fails, and keeps retrying
            if not feed.ready.is_set() and feed.restarts >= 1:
                break
            await asyncio.sleep(0.05)
        assert not feed.ready.is_set() and feed.restarts >= 1
        server = EmbeddedMongo(data, log_path=tmp_path / "secantus.log", port=port).start()
        await asyncio.wait_for(feed.ready.wait(), 15)
        after = await writer.insert(make_policy(), Cause.REQUEST)
        got = await take(seen, within=10)
        assert got.id == after.id
    finally:
        await feed.stop()
        await store.close()
        await writer_store.close()
        server.stop()
