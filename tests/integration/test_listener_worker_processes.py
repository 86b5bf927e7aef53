"""Worker processes on the devnet: SIGKILL at points of a long ingestion chosen from the progress the worker
reports, then a restart, ends in the same state as an uninterrupted run; two workers on one database apply no
event twice.

The first kill lands mid-ingestion by construction: the worker reaches the devnet through a proxy on loopback
(tests/faults/chain_proxy.py, no faults) that holds its requests for the vault's logs, so it can store the
registry's events and no more; it is killed once it has stored a number of them drawn at random.

The processes are `python -m policy_registry.worker --chain-only`: the same Worker as `policy-registry worker`
without the service's own jobs, whose expiration job would (rightly) move expired policies of other tests that
the reference run, a bare listener, leaves alone."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.chain import (
    TESTNET,
    BackendSigner,
    NonceManager,
    StacksApiClient,
    monitor_transaction,
    sign_and_broadcast_contract_call,
    stx_post_condition,
    uint_cv,
)
from services.chain.clarity import string_ascii_cv
from services.store.mongo import MongoStore
from tests.documents import found
from tests.faults.chain_proxy import ChainProxy, run_proxy
from tests.fixtures import workers
from tests.fixtures.creation import signed_creation_tx
from tests.fixtures.devnet import DevnetFixture
from tests.fixtures.short_txn import short_txn_mongo_server
from tests.integration.test_listener_devnet import listener_for, signed_quote
from tests.services.listener.conftest import state_digest

pytestmark = pytest.mark.devnet
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def short_txn_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database server that reaps a killed process's open transaction after 8 s instead of 60 s (at 2 s a loaded
    machine's apply chunk can outlive its transaction, which then never commits)."""
    with short_txn_mongo_server(tmp_path_factory.mktemp("secantus-short"), 8) as uri:
        yield uri


@pytest.fixture
async def client(devnet: DevnetFixture) -> AsyncIterator[StacksApiClient]:
    async with StacksApiClient(devnet.url) as api:
        yield api


async def make_history(devnet: DevnetFixture, client: StacksApiClient) -> None:
    """~70 more contract events: 30 deposits (1 event each) and 13 creations (3 events each). The deposits alone
    cover the creations' collateral (10 x 50 STX per tier against at most 5 x 30 STX), whatever capital earlier tests
    left locked on the shared devnet."""
    provider = BackendSigner.from_hex(devnet.accounts["wallet_4"].private_key, TESTNET)
    nonces = NonceManager(client, provider.address)
    sent = []
    for i in range(30):
        if i == 15:
            await devnet.amine()  # a node takes at most 25 chained transactions of one sender (TooMuchChaining)
        tier = ("Conservative", "Balanced", "Aggressive")[i % 3]
        sent.append(
            await sign_and_broadcast_contract_call(
                client,
                provider,
                nonces,
                contract_id=devnet.vault,
                function_name="deposit",
                function_args=[string_ascii_cv(tier), uint_cv(50_000_000 + i)],
                fee=1_000,
                post_conditions=[stx_post_condition("origin", "eq", 50_000_000 + i)],
            )
        )
    buyer = BackendSigner.from_hex(devnet.accounts["wallet_1"].private_key, TESTNET)
    nonce = (await client.get_nonces(buyer.address)).possible_next_nonce
    txids = [s.txid for s in sent]
    for i in range(13):
        terms, signature = await signed_quote(
            devnet, client, buyer.address, tier=("Conservative", "Balanced", "Aggressive")[i % 3]
        )
        txids.append(await client.broadcast_transaction(signed_creation_tx(terms, signature, buyer, nonce + i)))
    await devnet.amine()
    for txid in txids:
        outcome = await monitor_transaction(client, txid, timeout=10, poll_interval=0.05)
        assert outcome.state == "success", outcome
    await devnet.amine(blocks=0, burn_blocks=1)


def spawn_worker(
    devnet: DevnetFixture, mongo_uri: str, database: str, cwd: Path, log: Path, api_url: str | None = None
) -> subprocess.Popen[bytes]:
    return workers.spawn_worker(
        log,
        mongodb_uri=mongo_uri,
        database=database,
        stacks_api_url=api_url or devnet.url,
        registry=devnet.registry,
        vault=devnet.vault,
        command=("policy_registry.worker", "--chain-only"),
        cwd=cwd,
        CHAIN_CONFIRMATIONS="1",
        RECONCILE_INTERVAL_S="1",
        LEASE_TTL_S="2",
    )


async def wait_synced(store: MongoStore, target: dict[str, object], within: float = 40) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cursor = await store.db.chain_cursor.find_one({"_id": "listener"}) or {}
        pending = await store.db.chain_events.count_documents({"outcome": "pending", "canonical": True})
        if cursor.get("applied_through") == target and pending == 0:
            return
        await asyncio.sleep(0.2)  # polling interval of a wait with a deadline
    raise AssertionError(f"not synced: cursor {cursor.get('applied_through')}, pending {pending}")


async def progress(store: MongoStore) -> dict[str, int]:
    return {
        "ingested": await store.db.chain_events.count_documents({}),
        "applied": await store.db.chain_events.count_documents({"applied": True}),
    }


async def wait_progress(store: MongoStore, field: str, goal: int, within: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + within
    while True:
        done = await progress(store)
        if done[field] >= goal or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.02)  # polling interval of a wait with a deadline


async def wait_lease(store: MongoStore, pid: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while f"/{pid}/" not in str((await store.db.leases.find_one({"_id": "chain-listener"}) or {}).get("holder")):
        assert time.monotonic() < deadline, f"worker {pid} did not take the listener's lease within {within} s"
        await asyncio.sleep(0.02)  # polling interval of a wait with a deadline


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_killed_workers_and_two_workers_end_in_the_reference_state(
    devnet: DevnetFixture,
    client: StacksApiClient,
    store: MongoStore,
    short_txn_mongo: str,
    tmp_path: Path,
) -> None:
    await make_history(devnet, client)
    reference_listener = listener_for(store, client, devnet, confirmations=1)
    report = await reference_listener.poll_once()
    assert report.error is None and report.applied >= 60
    reference, ref_state = await state_digest(store)
    target = ref_state["applied_through"]
    assert len(ref_state["events"]) >= 60

    killed_db = f"test_{uuid.uuid4().hex[:12]}"
    pair_db = f"test_{uuid.uuid4().hex[:12]}"
    stores = [MongoStore(short_txn_mongo, name, timeout_ms=3000) for name in (killed_db, pair_db)]
    log = tmp_path / "workers.log"
    processes: list[subprocess.Popen[bytes]] = []
    proxy_runner = run_proxy(ChainProxy(devnet.url, enabled=False))
    proxy = next(proxy_runner)
    try:
        # one worker, SIGKILLed at random points of its ingestion (while storing raw events, then while applying
        # them), then restarted until it finishes
        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
        total = len(ref_state["events"])
        registry_events = await store.db.chain_events.count_documents({"source": "registry"})
        assert 0 < registry_events < total
        kills = []
        for stage, field in (("ingesting", "ingested"), ("applying", "applied"), ("applying", "applied")):
            held = stage == "ingesting"
            if held:  # the vault's logs wait: the worker can store the registry's events only
                proxy.step_path = f"/extended/v2/smart-contracts/{devnet.vault}/logs"
            worker = spawn_worker(
                devnet, short_txn_mongo, killed_db, tmp_path, log, api_url=proxy.base_url if held else None
            )
            processes.append(worker)
            done = await progress(stores[0])
            ceiling = registry_events if held else total - 5
            if done[field] < ceiling:
                goal = rng.randint(done[field] + 1, ceiling)
                reached = await wait_progress(stores[0], field, goal)
            else:  # nothing left below the ceiling: kill once it holds the listener's lease (it is at work)
                goal = done[field]
                await wait_lease(stores[0], worker.pid)
                reached = await progress(stores[0])
            stop(worker, signal.SIGKILL)
            proxy.free()
            left = await progress(stores[0])
            kills.append((stage, goal, reached, left))
            if held:  # by construction: it got there, and no further
                assert goal <= left["ingested"] <= registry_events < total, kills
        survivor = spawn_worker(devnet, short_txn_mongo, killed_db, tmp_path, log)
        processes.append(survivor)
        await wait_synced(stores[0], target)
        stop(survivor)
        digest, state = await state_digest(stores[0])
        assert state == ref_state, f"kills at {kills}"
        assert digest == reference
        if not any(0 < r["applied"] < total for _, _, _, r in kills):
            # The apply loop can outrun the progress poll (25 events a transaction); tests/faults/test_worker_kills.py
            # kills 20 times over a longer history, which lands mid-application for sure.
            print(f"no kill landed mid-application this run: {kills}")

        # two workers on one database at once; the listener's holder is killed half-way, the other takes over
        pair = [spawn_worker(devnet, short_txn_mongo, pair_db, tmp_path, log) for _ in range(2)]
        processes += pair
        await wait_progress(stores[1], "applied", rng.randint(1, total - 5))
        lease = await stores[1].db.leases.find_one({"_id": "chain-listener"})
        assert lease is not None
        holder_pid = int(lease["holder"].split("/")[1])
        holder = next(p for p in pair if p.pid == holder_pid)
        finished_before_kill = (await progress(stores[1]))["applied"] >= total
        stop(holder, signal.SIGKILL)
        await wait_synced(stores[1], target)
        for p in pair:
            stop(p)
        digest, state = await state_digest(stores[1])
        assert state == ref_state, f"holder killed at {finished_before_kill=}"
        assert digest == reference
        counts = [d["apply_count"] for d in await stores[1].db.chain_events.find({"applied": True}).to_list(None)]
        assert counts and set(counts) == {1}
        if not finished_before_kill:  # the other worker had to take the listener's lease over to finish
            assert found(await stores[1].db.leases.find_one({"_id": "chain-listener"}))["epoch"] >= 2
    finally:
        proxy.free()
        next(proxy_runner, None)
        for p in processes:
            stop(p, signal.SIGKILL)
        # No drop_database: these databases live in this module's in-memory server, gone when the module ends. A
        # drop right after a SIGKILL inside a transaction can hang SecantusDB (docs/faults.md).
        for s in stores:
            await s.close()
