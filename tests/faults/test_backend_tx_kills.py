"""`policy-registry worker` SIGKILLed 20 times while it sends backend transactions on the devnet: six Active
policies are activated one by one (Settling, one queued `update-policy-status` each) while workers are started and
killed; a last worker runs to the end. The outcome is the uninterrupted one: every policy Settled with the
settlement fixed at activation, exactly one backend transaction per policy (attempt 1, success), and the backend
principal's nonce advanced by exactly the number of policies: nothing was sent twice or re-signed.

Each kill point is chosen from a backend transaction's state in the database, and the test mines the blocks, so
where the kills land holds by construction: while a transaction is queued, no block is mined and the worker is
killed as soon as it has recorded one as signed or broadcast, so the kill leaves it in flight (it cannot have
confirmed); while transactions are in flight, a block is mined and the worker is killed as soon as it has recorded
one more success; once all have succeeded, it is killed as soon as it holds the queue's lease."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from policy_registry.container import Services
from policy_registry.settings import Settings
from services.core.status import StatusDetailed
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

    log = tmp_path / "workers.log"
    kills: list[tuple[str, Any]] = []
    processes: list[subprocess.Popen[bytes]] = []

    async def statuses() -> list[str]:
        txs = await services.store.db.backend_txs.find({"policy_id": {"$in": ids}}).to_list(None)
        return [t["status"] for t in txs]

    async def lease_holder() -> str:
        lease = await services.store.db.leases.find_one({"_id": "backend-txs"}) or {}
        return str(lease.get("holder", ""))

    try:
        for i in range(KILLS):
            if i < len(policies):
                await activate(i)  # one more settlement joins the queue while workers come and go
            before = await statuses()
            reached: Callable[[], Awaitable[bool]] | None
            if "queued" in before:
                goal = "sent"  # no block is mined meanwhile: what it sends stays in flight
                queued = before.count("queued")

                async def fewer_queued(queued: int = queued) -> bool:
                    return (await statuses()).count("queued") < queued

                reached = fewer_queued

            elif {"signed", "broadcast"} & set(before):
                goal = "confirmed"
                await devnet.amine()
                successes = before.count("success")

                async def more_successes(successes: int = successes) -> bool:
                    return (await statuses()).count("success") > successes

                reached = more_successes

            else:
                goal = "leased"
                reached = None  # set once the worker's pid is known
            worker = spawn_worker(devnet, short_txn_mongo, database, log)
            processes.append(worker)
            if reached is None:
                pid = f"/{worker.pid}/"

                async def worker_holds_lease(pid: str = pid) -> bool:
                    return pid in await lease_holder()

                reached = worker_holds_lease

            deadline = time.monotonic() + 60
            mined_at = time.monotonic()
            while not await reached():
                assert worker.poll() is None, f"the worker exited before {goal}"
                assert time.monotonic() < deadline, f"kill {i + 1}: not {goal} within 60 s: {await statuses()}"
                if goal == "confirmed" and time.monotonic() - mined_at > 1.5:
                    await devnet.amine()  # a transaction the worker re-sent just now needs a block of its own
                    mined_at = time.monotonic()
                await asyncio.sleep(0.02)  # polling interval of a wait with a deadline
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            if i < KILLS - workers.NATURAL_KILLS:
                await workers.release_dead_worker(services.store.db)
            state = await snapshot(services, ids)
            kills.append((goal, state[0]))
            print(f"kill {len(kills)} ({goal}): {state}", flush=True)
            if goal == "sent":  # by construction: no block since it was sent
                assert any(status in ("signed", "broadcast") for _, status, _ in state[0]), state
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
            await devnet.amine()  # whatever is still in flight confirms
            await asyncio.sleep(0.3)  # polling interval of a wait with a deadline
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=15)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    in_flight = [k for k in kills if any(status in ("signed", "broadcast") for _, status, _ in k[1])]
    print(f"BACKEND KILLS {len(kills)}, {len(in_flight)} with transactions still in flight: {[k[0] for k in kills]}")
    for policy_id, settlement in expected.items():
        final = await services.policies.require(policy_id)
        assert final.status_detailed is StatusDetailed.Settled and final.status_onchain == 1
        assert final.settlement_ustx == settlement
        txs = await services.backend_txs.for_policy(policy_id)
        assert [(t.action.value, t.attempt, t.status) for t in txs] == [("settle", 1, "success")]
    assert (await h.chain.get_nonces(backend)).possible_next_nonce == nonce_before + len(ids)
    # each settlement was caught at least once between its signing and its confirmation
    assert len([k for k in kills if k[0] == "sent"]) == len(ids) and len(in_flight) >= len(ids), kills
    await h.set_btc(10_000_000_000_000)
    # No drop_database: the database lives in this module's in-memory server, gone when the module ends (after
    # this kill loop, dropping it once hung SecantusDB: the server stopped answering; reported in docs/faults.md).
    await services.close()
