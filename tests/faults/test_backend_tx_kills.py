"""`policy-registry worker` SIGKILLed 20 times while it sends backend transactions on the devnet: six Active
policies are activated one by one (Settling, one queued `update-policy-status` each) while workers are started and
killed at random points and a block is mined every 1.5 s; a last worker runs to the end. The outcome is the
uninterrupted one: every policy Settled with the settlement fixed at activation, exactly one backend transaction per
policy (attempt 1, success), and the backend principal's nonce advanced by exactly the number of policies: nothing
was sent twice or re-signed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from policy_registry.container import Services
from policy_registry.settings import Settings
from services.policies.status import StatusDetailed
from tests.faults.test_worker_kills import short_txn_mongo
from tests.fixtures import workers
from tests.fixtures.devnet import DevnetFixture
from tests.integration.test_policy_lifecycle_devnet import Harness

pytestmark = pytest.mark.devnet
ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
WALLETS = ("wallet_1", "wallet_2", "wallet_3", "wallet_4", "wallet_1", "wallet_2")
__all__ = ["short_txn_mongo"]  # the module-scoped database fixture, shared with the ingestion kill loop


def spawn_worker(devnet: DevnetFixture, uri: str, database: str, log: Path) -> subprocess.Popen[bytes]:
    return workers.spawn_worker(
        log,
        mongodb_uri=uri,
        database=database,
        stacks_api_url=devnet.url,
        registry=devnet.registry,
        vault=devnet.vault,
        BACKEND_KEY=devnet.accounts["backend"].private_key,
        CHAIN_CONFIRMATIONS="0",
        BACKEND_TX_INTERVAL_S="0.2",
        RECONCILE_INTERVAL_S="3600",
        EXPIRATION_CHECK_INTERVAL_S="3600",
        LEASE_TTL_S="3",
    )


async def snapshot(services: Services, ids: list[str]) -> tuple[Any, ...]:
    txs = await services.store.db.backend_txs.find({"policy_id": {"$in": ids}}).sort("policy_id", 1).to_list(None)
    policies = await services.store.db.policies.find({"_id": {"$in": [ObjectId(i) for i in ids]}}).to_list(None)
    return (
        tuple((t["policy_id"], t["status"], t.get("broadcasts", 0)) for t in txs),
        tuple(sorted(p["status_detailed"] for p in policies)),
    )


async def test_twenty_sigkills_during_backend_transactions_send_each_once(
    devnet: DevnetFixture, short_txn_mongo: str, tmp_path: Path
) -> None:
    database = f"btx_{uuid.uuid4().hex[:10]}"
    settings = Settings(
        _env_file=None,
        mongodb_database=database,
        stacks_api_url=devnet.url,
        quote_key=devnet.quote_private_key.hex(),
        backend_key=devnet.accounts["backend"].private_key,
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
    )
    services = await Services.create(settings, short_txn_mongo)
    assert services.local_prices is not None and services.lifecycle is not None and services.chain is not None
    await services.local_prices.load()
    await services.oracle.refresh()
    h = Harness(services, devnet)
    await h.sync()
    policies = [await h.create_active(wallet, sats=2_000_000) for wallet in WALLETS]
    await h.set_btc(9_000_000_000_000)
    expected: dict[str, int | None] = {}

    async def activate(index: int) -> None:
        policy = policies[index]
        assert services.lifecycle is not None
        settling = await services.lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0)
        assert settling.status_detailed is StatusDetailed.Settling
        expected[settling.id] = settling.settlement_ustx

    backend = devnet.accounts["backend"].address
    nonce_before = (await h.chain.get_nonces(backend)).possible_next_nonce
    ids = [p.id for p in policies]

    stop_mining = asyncio.Event()

    async def miner() -> None:
        while not stop_mining.is_set():
            await devnet.amine()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_mining.wait(), timeout=1.5)

    mining = asyncio.create_task(miner())
    log = tmp_path / "workers.log"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    kills: list[tuple[float, Any]] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(KILLS):
            if i < len(policies):
                await activate(i)  # one more settlement joins the queue while workers come and go
            before = await snapshot(services, ids)
            worker = spawn_worker(devnet, short_txn_mongo, database, log)
            processes.append(worker)
            started = time.monotonic()
            all_settled = i >= len(policies) and set(before[1]) == {"Settled"}
            # kill once this worker has moved something (or after ~5 s; ~1.5 s once there is nothing left to move)
            for _ in range(15 if all_settled else 50):
                if await snapshot(services, ids) != before:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(rng.uniform(0.0, 0.8))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            state = await snapshot(services, ids)
            kills.append((round(time.monotonic() - started, 2), state[0]))
            print(f"kill {len(kills)}: {state}", flush=True)
        survivor = spawn_worker(devnet, short_txn_mongo, database, log)
        processes.append(survivor)
        deadline = time.monotonic() + 90
        while True:
            done = await services.store.db.policies.count_documents(
                {"_id": {"$in": [ObjectId(i) for i in ids]}, "status_detailed": "Settled"}
            )
            if done == len(ids):
                break
            assert time.monotonic() < deadline, await snapshot(services, ids)
            await asyncio.sleep(0.3)
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=15)
    finally:
        stop_mining.set()
        await mining
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    in_flight = [k for k in kills if any(status != "success" for _, status, _ in k[1])]
    print(f"BACKEND KILLS {len(kills)}, {len(in_flight)} with transactions still in flight")
    for policy_id, settlement in expected.items():
        final = await services.policies.require(policy_id)
        assert final.status_detailed is StatusDetailed.Settled and final.status_onchain == 1
        assert final.settlement_ustx == settlement
        txs = await services.backend_txs.for_policy(policy_id)
        assert [(t.action.value, t.attempt, t.status) for t in txs] == [("settle", 1, "success")]
    assert (await h.chain.get_nonces(backend)).possible_next_nonce == nonce_before + len(ids)
    assert in_flight, kills  # at least one kill caught a transaction between broadcast and confirmation
    await h.set_btc(10_000_000_000_000)
    await services.store.client.drop_database(database)
    await services.close()
