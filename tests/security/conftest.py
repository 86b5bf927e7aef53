"""Fixtures of the hostile-client suite: the whole app served over a real socket from a thread of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from tests.security.hostile import ServerInThread, server_in_thread


@pytest.fixture
async def target(mongo_server: EmbeddedMongo, settings: Settings) -> AsyncIterator[ServerInThread]:
    """A server of its own, without the worker jobs; generous rate limits so the probes are never throttled."""
    live = settings.model_copy(
        update={"instance_id": f"hostile-{uuid.uuid4().hex[:8]}", "run_worker": False, "rate_limit_per_s": 0.0}
    )
    async with server_in_thread(live, mongo_server.uri) as server:
        yield server
