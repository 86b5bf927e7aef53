"""Every write commits with the configured write concern (default `majority`, journaled) and every transaction
reads with read concern `snapshot` (docs/operations.md): as the collections say and as sent over the wire to the real
SecantusDB (a command listener sees each command the driver sends)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from pymongo import monitoring

from policy_registry import wiring
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from services.core.status import Cause
from services.store.chain_state import ChainStateRepository
from services.store.leases import Lease
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.factories import make_policy

MAJORITY_J = {"w": "majority", "j": True, "wtimeout": 10_000}


class Commands(monitoring.CommandListener):
    """The commands sent for one database (pymongo listeners are process-wide: filter by name)."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name in (self.database, "admin") and self.database is not None:
            doc = dict(event.command)
            if event.database_name == "admin" and doc.get("lsid") is None:
                return
            self.sent.append((event.command_name, doc))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def named(self, name: str) -> list[dict[str, Any]]:
        return [doc for command, doc in self.sent if command == name]


LISTENER = Commands()
monitoring.register(LISTENER)


@pytest.fixture
async def watched(mongo_server: EmbeddedMongo) -> AsyncIterator[tuple[MongoStore, Commands]]:
    """The store `Services` builds from default settings, its commands recorded."""
    name = f"wc_{uuid.uuid4().hex[:10]}"
    settings = Settings(mongodb_database=name, _env_file=None)
    store = MongoStore(mongo_server.uri, name, 3000, wiring.write_durability(settings))
    await store.ensure_indexes()
    LISTENER.database, LISTENER.sent = name, []
    yield store, LISTENER
    LISTENER.database = None
    await store.client.drop_database(name)
    await store.close()


async def test_the_collections_write_majority_journaled_and_read_majority(
    watched: tuple[MongoStore, Commands],
) -> None:
    store, _ = watched
    for name in ("policies", "policy_events", "reservations", "backend_txs", "chain_cursor", "chain_events"):
        collection = store.db[name]
        assert collection.write_concern.document == MAJORITY_J, name
        assert collection.read_concern.level == "majority", name
    options = store.transaction_options()
    assert options["write_concern"].document == MAJORITY_J and options["read_concern"].level == "snapshot"


async def test_a_transaction_reads_snapshot_and_commits_majority_on_the_wire(
    watched: tuple[MongoStore, Commands],
) -> None:
    store, commands = watched
    await PolicyRepository(store).insert(make_policy(), Cause.REQUEST)  # policy + audit event, one transaction
    [first, *rest] = commands.named("insert")
    assert first["readConcern"] == {"level": "snapshot"} and first["startTransaction"] is True
    assert all("readConcern" not in doc for doc in rest)  # a transaction's read concern goes on its first command
    [commit] = commands.named("commitTransaction")
    assert commit["writeConcern"] == MAJORITY_J


async def test_a_plain_write_and_a_lease_takeover_are_majority_too(watched: tuple[MongoStore, Commands]) -> None:
    store, commands = watched
    await ChainStateRepository(store).set_cursor({"synced_height": 7})  # a write outside any transaction
    [update] = commands.named("update")
    assert update["writeConcern"] == MAJORITY_J
    commands.sent.clear()
    assert await Lease(store, "job", "me", ttl_s=30).acquire()  # a transaction started outside the store
    [commit] = commands.named("commitTransaction")
    assert commit["writeConcern"] == MAJORITY_J
    [first, *_] = [doc for _, doc in commands.sent if doc.get("startTransaction")]
    assert first["readConcern"] == {"level": "majority"}


def test_the_write_concern_is_a_setting() -> None:
    settings = Settings(
        _env_file=None,
        mongodb_write_concern="2",
        mongodb_journal=False,
        mongodb_write_timeout_ms=2500,
        mongodb_txn_read_concern="majority",
    )
    durability = wiring.write_durability(settings)
    assert durability.write_concern.document == {"w": 2, "j": False, "wtimeout": 2500}
    assert durability.read_concern.level == "majority"
    for bad in ("0", "banana", "100", ""):  # w: 0 would not even acknowledge
        with pytest.raises(ValidationError, match="mongodb_write_concern"):
            Settings(_env_file=None, mongodb_write_concern=bad)
