from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.services.oracle.loopback import LoopbackExchange, RecordedExchange


@pytest.fixture(scope="module")
async def loopback() -> AsyncIterator[LoopbackExchange]:
    server = LoopbackExchange()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def exchange(loopback: LoopbackExchange) -> RecordedExchange:
    loopback.script = RecordedExchange()
    return loopback.script


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: never route loopback traffic through a proxy from the environment.
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        yield client
