"""One service for the TypeScript client's tests and the web page's browser test: `policy-registry serve` in its
own process (as a user runs it) on the session's SecantusDB and devnet, with its worker, the built page at /app,
short poll intervals, and blocks mined only when a test asks (the devnet fixture mines on demand)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest

from policy_registry.embedded.secantus import EmbeddedMongo
from tests.api.live import ApiProcess
from tests.fixtures.devnet import DevnetFixture

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
WEB = ROOT / "examples" / "web"
READY_QUERY = "{ chainStatus { lagBlocks lastError } tierAvailability { tier availableUstx } }"


@dataclass(frozen=True)
class WebService:
    url: str  # http://127.0.0.1:PORT
    stacks_api_url: str
    operator_token: str
    log_path: Path


def _wait_synced(url: str, timeout: float = 120) -> None:
    """Until the worker has read the chain (lag 0) and the vault's capital (the quotes need it): a deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        body = httpx.post(f"{url}/graphql", json={"query": READY_QUERY}, timeout=10).json()
        data = body.get("data") or {}
        status, tiers = data.get("chainStatus") or {}, data.get("tierAvailability") or []
        if status.get("lagBlocks") == 0 and tiers and all(int(t["availableUstx"]) > 0 for t in tiers):
            return
        last = body
        time.sleep(0.2)
    raise AssertionError(f"the service did not sync with the devnet within {timeout:.0f} s: {last}")


@pytest.fixture(scope="session")
def web_service(
    devnet: DevnetFixture, mongo_server: EmbeddedMongo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebService]:
    token = secrets.token_urlsafe(16)
    database = f"test_web_{uuid.uuid4().hex[:8]}"
    env = {
        "MONGODB_URI": mongo_server.uri,
        "MONGODB_DATABASE": database,
        "STACKS_API_URL": devnet.url,
        "REGISTRY_CONTRACT_ID": devnet.registry,
        "VAULT_CONTRACT_ID": devnet.vault,
        "QUOTE_KEY": devnet.quote_private_key.hex(),
        "BACKEND_KEY": devnet.accounts["backend"].private_key,
        "OPERATOR_TOKEN": token,
        "INSTANCE_ID": f"web-{database}",
        "RUN_WORKER": "true",
        "CHAIN_CONFIRMATIONS": "0",  # the block itself confirms: each mined block is applied at once
        "LISTENER_POLL_INTERVAL_S": "0.2",
        "TX_MONITOR_INTERVAL_S": "1",
        "BACKEND_TX_INTERVAL_S": "0.2",
        "RATE_LIMIT_PER_S": "0",
        "DEMO_DATA": "false",
        "LOG_LEVEL": "INFO",
    }
    api = ApiProcess("web-service", env, tmp_path_factory.mktemp("web-service"))
    api.start(timeout=120)
    try:
        _wait_synced(api.http_url)
        yield WebService(api.http_url, devnet.url, token, api.log_path)
    finally:
        api.stop()
        client: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(mongo_server.uri) as client:  # the session server's: leave it as found
            client.drop_database(database)
