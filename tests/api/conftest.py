"""Fixtures of the WebSocket API tests: the app under uvicorn in the test's loop, and the policy repository."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.api.live import serve_in_loop


@pytest.fixture
async def ws_url(mongo_server: EmbeddedMongo, settings: Settings) -> AsyncIterator[str]:
    """A server of its own (its own change-stream instance id), without the worker jobs."""
    live = settings.model_copy(update={"instance_id": f"ws-test-{uuid.uuid4().hex[:8]}", "run_worker": False})
    async with serve_in_loop(live, mongo_server.uri) as url:
        yield url


@pytest.fixture
def repo(store: MongoStore) -> PolicyRepository:
    return PolicyRepository(store)
