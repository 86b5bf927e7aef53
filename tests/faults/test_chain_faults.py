"""The worker follows the devnet through a fault-injecting proxy (tests/faults/chain_proxy.py): 503 bursts,
timeouts, 429 with retry-after, truncated JSON, and a 410 on the deprecated v2 contract-logs route (the client
falls back to the v1 events route). The listener carries on and ends in the state a clean run reaches; meanwhile
`chainStatus` shows the lag and the last error, and /metrics the client's retries and the failed polls."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from policy_registry.app import create_app
from policy_registry.container import Services, chain_jobs
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from policy_registry.worker import Worker
from services.chain import (
    TESTNET,
    BackendSigner,
    NonceManager,
    RetryPolicy,
    StacksApiClient,
    monitor_transaction,
    sign_and_broadcast_contract_call,
    stx_post_condition,
    uint_cv,
)
from services.chain.clarity import string_ascii_cv
from services.core.fencing import Unfenced
from services.listener.poller import ChainListener, ListenerConfig
from services.store.mongo import MongoStore
from tests.faults.chain_proxy import ChainProxy, FaultPlan, run_proxy
from tests.fixtures.devnet import DevnetFixture
from tests.services.listener.conftest import state_digest
from tests.test_metrics import samples

pytestmark = pytest.mark.devnet

STATUS = "{ chainStatus { lagBlocks lastError eventsApplied pendingEvents syncedHeight } }"


async def deposit_some(devnet: DevnetFixture, client: StacksApiClient, n: int) -> None:
    provider = BackendSigner.from_hex(devnet.accounts["wallet_3"].private_key, TESTNET)
    nonces = NonceManager(client, provider.address)
    txids = []
    for i in range(n):
        amount = 1_000_000 + i
        sent = await sign_and_broadcast_contract_call(
            client,
            provider,
            nonces,
            contract_id=devnet.vault,
            function_name="deposit",
            function_args=[string_ascii_cv(("Conservative", "Balanced", "Aggressive")[i % 3]), uint_cv(amount)],
            fee=1_000,
            post_conditions=[stx_post_condition("origin", "eq", amount)],
        )
        txids.append(sent.txid)
        if i % 2:
            await devnet.amine()  # spread over several blocks
    await devnet.amine()
    for txid in txids:
        assert (await monitor_transaction(client, txid, timeout=10, poll_interval=0.05)).state == "success"
    await devnet.amine(blocks=0, burn_blocks=1)


async def test_the_listener_rides_out_chain_api_faults(devnet: DevnetFixture, mongo_server: EmbeddedMongo) -> None:
    reference_store = MongoStore(mongo_server.uri, f"ref_{uuid.uuid4().hex[:10]}")
    await reference_store.ensure_indexes()
    async with StacksApiClient(devnet.url) as direct:
        await deposit_some(devnet, direct, 6)
        clean = ChainListener(reference_store, direct, ListenerConfig(devnet.registry, devnet.vault), Unfenced())
        report = await clean.poll_once()
        assert report.error is None, report.error
    reference, ref_state = await state_digest(reference_store)
    target = ref_state["applied_through"]

    plan = FaultPlan(timeout_every=29, timeout_s=1.2)
    proxy_runner = run_proxy(ChainProxy(devnet.url, plan))
    proxy = next(proxy_runner)
    database = f"faults_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        _env_file=None,
        mongodb_database=database,
        stacks_api_url=proxy.base_url,
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
        chain_confirmations=1,
        listener_poll_interval_s=0.2,
        reconcile_interval_s=3600,
        lease_ttl_s=3,
    )
    services = await Services.create(settings, mongo_server.uri)
    fast = RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)
    client = StacksApiClient(proxy.base_url, retry=fast, timeout=0.5)
    worker = Worker(
        services.store,
        services.holder,
        settings.lease_ttl_s,
        chain_jobs(settings, services.store, client, services.policies, services.liquidity),
        client,
    )
    task = asyncio.create_task(worker.run())
    app = create_app(settings, mongo_server.uri, services=services)
    app.state.worker = (worker, task)
    errors: set[str] = set()
    lags: list[int] = []
    # Every poll starts with /v2/info: held there, the listener has published the previous poll's outcome and
    # cannot change it, so the status read between two steps is exactly what that poll left (every error seen).
    proxy.step_path = "/v2/info"
    observed = 0
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            deadline = time.monotonic() + 120
            while True:
                while proxy.arrivals == observed:
                    assert time.monotonic() < deadline, f"no poll: faults {dict(proxy.counts)}"
                    await asyncio.sleep(0.01)  # polling interval of a wait with a deadline
                observed = proxy.arrivals
                body = (await api.post("/graphql", json={"query": STATUS})).json()
                status: dict[str, Any] = body["data"]["chainStatus"]
                if status["lastError"]:
                    errors.add(status["lastError"])
                if status["lagBlocks"] is not None:
                    lags.append(status["lagBlocks"])
                cursor = await services.store.db.chain_cursor.find_one({"_id": "listener"}) or {}
                if cursor.get("applied_through") == target and status["pendingEvents"] == 0 and errors:
                    break
                assert time.monotonic() < deadline, f"not synced: {status}, faults {dict(proxy.counts)}"
                proxy.step()
            metrics = samples((await api.get("/metrics")).text)
            proxy.free()
        worker.stop()
        await asyncio.wait_for(task, timeout=15)
        digest, state = await state_digest(services.store)
    finally:
        proxy.free()
        worker.stop()
        if not task.done():
            task.cancel()
        await client.aclose()
        next(proxy_runner, None)
        await services.store.client.drop_database(database)
        await services.close()
        await reference_store.client.drop_database(reference_store.db.name)
        await reference_store.close()
    print(f"CHAIN FAULTS injected {dict(proxy.counts)} over {proxy.seen} requests; errors seen {sorted(errors)[:3]}")
    assert state == ref_state and digest == reference
    assert {"gone", "503", "429", "timeout", "truncate"} <= set(proxy.counts), proxy.counts
    assert any("JSON" in e or "Protocol" in e or "unavailable" in e.lower() for e in errors), errors
    assert lags and min(lags) == 0
    assert metrics[("stacks_api_client_total", (("counter", "retries"),))] > 0
    assert metrics[("worker_job_events_total", (("counter", "errors"), ("job", "chain-listener")))] > 0
    assert metrics[("listener_poll_errors_total", ())] > 0
    assert metrics[("listener_lag_blocks", ())] == 0
