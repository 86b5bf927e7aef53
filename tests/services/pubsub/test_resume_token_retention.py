"""A resume token older than the oplog's retention takes the documented resync path (docs/subscriptions.md
"Resume tokens"); the embedded server keeps a token through a day of API downtime (docs/operations.md).

The expiry is made deterministic: a server of its own keeps at most a few oplog entries, the API's feed stops
(its token saved), more writes than that land while it is down, and the server prunes its oplog on request
(``secantusAdmin.pruneOplog``, what it otherwise does opportunistically). No clock is waited on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure

from policy_registry.embedded.secantus import DURABLE, Durability, EmbeddedMongo
from policy_registry.settings import Settings
from services.core.status import Cause, StatusDetailed
from services.pubsub.broker import Broker, policy_topic
from services.pubsub.feed import ChangeFeed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found
from tests.factories import make_policy

S = StatusDetailed
KEPT_ENTRIES = 20


@pytest.fixture
async def short_oplog(tmp_path: Path) -> AsyncIterator[MongoStore]:
    """A disk-backed server with the product's flags but an oplog cap of KEPT_ENTRIES entries."""
    durability = Durability(oplog_max_entries=KEPT_ENTRIES)
    with EmbeddedMongo(tmp_path / "data", log_path=tmp_path / "secantus.log", durability=durability) as server:
        store = MongoStore(server.uri, "retention", timeout_ms=3000)
        await store.ensure_indexes()
        yield store
        await store.close()


async def test_a_token_older_than_the_oplog_resyncs_live_subscribers(
    short_oplog: MongoStore, caplog: pytest.LogCaptureFixture
) -> None:
    store = short_oplog
    policies = PolicyRepository(store)
    broker = Broker(100, 30)
    record = await policies.insert(make_policy(), Cause.REQUEST)
    feed = ChangeFeed(store, broker, "api-1", save_interval_s=0)
    feed.start()
    await asyncio.wait_for(feed.ready.wait(), 10)
    watcher = broker.subscribe(policy_topic(record.id))
    await policies.transition(record, S.Active, Cause.CHAIN, changes={"policy_id_onchain": 41})
    assert (await asyncio.wait_for(watcher.get(), 5)).version == 1  # the feed is live and has a token
    await feed.stop()  # the API goes down; its token is saved
    saved = found(await store.db.stream_tokens.find_one({"_id": "api-1"}))["token"]

    # While it is down: the policy settles, then enough other writes that the token's entry falls off the oplog.
    active = await policies.require(record.id)
    settled = await policies.transition(active, S.Settling, Cause.REQUEST)
    for i in range(2 * KEPT_ENTRIES):
        await store.db.filler.insert_one({"i": i})
    assert (await store.client.admin.command({"secantusAdmin.pruneOplog": 1}))["pruned"] > 0
    with pytest.raises(OperationFailure) as lost:  # the server itself no longer accepts the token
        async with await store.db.watch(resume_after=saved):
            pass
    assert lost.value.code == 286  # ChangeStreamHistoryLost

    # The API comes back with a subscriber still interested in the policy (a reconnecting replica's registry).
    broker = Broker(100, 30)
    watcher = broker.subscribe(policy_topic(record.id))
    restarted = ChangeFeed(store, broker, "api-1", save_interval_s=0)
    with caplog.at_level(logging.WARNING, logger="services.pubsub.feed"):
        restarted.start()
        try:
            got = await asyncio.wait_for(watcher.get(), 10)  # the resync re-read delivers the missed change
            assert (got.id, got.version, got.status_detailed) == (record.id, settled.version, S.Settling)
            await asyncio.wait_for(restarted.ready.wait(), 10)
            fresh = (await store.db.stream_tokens.find_one({"_id": "api-1"}) or {}).get("token")
            assert fresh is not None and fresh != saved  # it starts from now, with a token the server accepts
            again = await policies.transition(settled, S.Settled, Cause.CHAIN)
            assert (await asyncio.wait_for(watcher.get(), 5)).version == again.version  # and is live again
        finally:
            await restarted.stop()
    assert any("resume token rejected (286)" in r.getMessage() for r in caplog.records)


def test_the_embedded_server_keeps_a_resume_token_through_a_day_of_downtime() -> None:
    """The launched flags: the token the API saves on stop is at most one heartbeat old, and the oplog keeps it
    for 24 h after that, even with an idle worker writing ~5 entries per second meanwhile (docs/operations.md)."""
    day = 24 * 3600
    assert DURABLE.oplog_retention_s >= day + DURABLE.noop_heartbeat_s
    assert DURABLE.oplog_max_entries >= 5 * (day + DURABLE.noop_heartbeat_s) + day / DURABLE.noop_heartbeat_s
    argv = DURABLE.argv()
    assert "--sync-on-commit" in argv
    assert argv[argv.index("--oplog-retention-seconds") + 1] == str(DURABLE.oplog_retention_s)
    assert argv[argv.index("--noop-heartbeat-seconds") + 1] == str(DURABLE.noop_heartbeat_s)
    assert Durability.from_settings(Settings(_env_file=None)) == DURABLE
