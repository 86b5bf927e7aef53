"""Shared fixtures: one real SecantusDB server per test session, a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.embedded.secantus import DURABLE, MEMORY, EmbeddedMongo
from policy_registry.settings import Settings
from services.store.mongo import MongoStore

pytest_plugins: list[str] = ["tests.fixtures.devnet", "tests.api.chain_api"]

# Property tests draw the same examples on every run of the suite, so it passes or fails by the code, never by the
# draw (a random draw once found a real gap only on its own luck). `HYPOTHESIS_PROFILE=explore` draws new examples
# each run, to look for counterexamples on purpose; a counterexample it finds becomes an explicit `@example`.
hypothesis_settings.register_profile("suite", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedMongo]:
    """A SecantusDB server on a free loopback port for the whole session (it takes ~3 s to start).

    Launched with the product's flags (``--sync-on-commit``, the oplog retention and heartbeat), in memory: an
    fsync per commit on disk costs ~20 % of the database-bound tests' time (docs/faults.md), and what it buys is
    proved where it matters, by the tests that kill and restart a disk-backed server. ``TEST_DB_ON_DISK=1`` runs
    the session on a disk-backed, fsync-on-commit server instead."""
    base = Path(tmp_path_factory.mktemp("secantus"))
    storage = base / "data" if os.environ.get("TEST_DB_ON_DISK") == "1" else MEMORY
    with EmbeddedMongo(storage, log_path=base / "secantus.log", durability=DURABLE) as server:
        yield server


@pytest.fixture
def db_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(db_name: str) -> Settings:
    return Settings(mongodb_database=db_name, _env_file=None)


@pytest.fixture
async def store(mongo_server: EmbeddedMongo, db_name: str) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server.uri, db_name, timeout_ms=3000)
    await store.ensure_indexes()
    yield store
    await store.client.drop_database(db_name)
    await store.close()


@pytest.fixture
async def services(mongo_server: EmbeddedMongo, settings: Settings) -> AsyncIterator[Services]:
    services = await Services.create(settings, mongo_server.uri)
    yield services
    await services.store.client.drop_database(settings.mongodb_database)
    await services.close()


@pytest.fixture
async def api(services: Services, settings: Settings, mongo_server: EmbeddedMongo) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the whole ASGI app in-process."""
    app = create_app(settings, mongo_server.uri, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
