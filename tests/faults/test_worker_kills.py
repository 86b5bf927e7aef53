"""`policy-registry worker` SIGKILLed 20 times during a long ingestion (a scripted Hiro API on loopback serving 300
contract events: deposits, creations, settlements, expiries), then restarted until it is done: the final state is
identical to an uninterrupted run's.

Each kill point is chosen from the progress the worker reports (events stored and applied in the database, its
requests to the chain), never from a pause, and the chain meters how far a worker can get, so where the kills land
holds by construction, however loaded the machine:

- kills 1-4: the vault's logs are held (the request waits), so a worker stores at most the registry's events; it
  is killed once it has stored a number of them drawn at random (or, with all of them stored, once it asks for
  the vault's logs): each kill lands mid-ingestion;
- kills 5-16: the node reports a confirmed tip that rises kill by kill, so a worker applies at most the events at
  or below it; it is killed once it has applied a number of them drawn at random: each kill leaves the history
  partly unapplied (often between two apply transactions);
- kills 17-20: the whole chain, killed at a random count of applied events, wherever the worker then is.

The database reaps a killed process's open transaction after 8 s (tests/integration/secantus_short_txn.py) instead
of mongod's and SecantusDB's default 60 s, so the next worker does not wait a minute on the dead one's locks. (The
limit applies to live transactions too: much shorter, and a slow machine's apply chunk never commits.)
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bench import ingest
from bench.ingest import History
from services.chain import RetryPolicy, StacksApiClient
from services.store.mongo import MongoStore
from tests.fixtures import workers
from tests.fixtures.short_txn import short_txn_mongo_server
from tests.services.listener.conftest import make_listener, state_digest
from tests.services.listener.fake_chain import REGISTRY, VAULT, FakeChain, FakeTx, run_fake_chain

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
TXS_PER_BLOCK = 4


@pytest.fixture(scope="module")
def short_txn_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # 8 s: at 2 s a worker under this loop's load never commits a 25-event chunk before it is reaped.
    with short_txn_mongo_server(tmp_path_factory.mktemp("secantus-short"), 8) as uri:
        yield uri


@pytest.fixture
def long_chain() -> Iterator[FakeChain]:
    chain = FakeChain(marker="f" * 32)
    history = History(300, seed=21)
    # The generator's contract ids are the fake chain's (the devnet deployer's), so the prints route as on chain.
    assert (REGISTRY, VAULT) == (ingest.REGISTRY, ingest.VAULT)
    txs = [FakeTx(txid, prints, function="create-policy-entry") for txid, prints in history.txs]
    for start in range(0, len(txs), TXS_PER_BLOCK):
        chain.mine(txs[start : start + TXS_PER_BLOCK])
    chain.burn()  # the last block's events have their confirmation
    yield from run_fake_chain(chain)


def spawn_worker(chain: FakeChain, uri: str, database: str, log: Path) -> subprocess.Popen[bytes]:
    return workers.spawn_worker(
        log,
        mongodb_uri=uri,
        database=database,
        stacks_api_url=chain.base_url,
        registry=REGISTRY,
        vault=VAULT,
        CHAIN_CONFIRMATIONS="1",
        RECONCILE_INTERVAL_S="3600",
        LEASE_TTL_S="2",  # a killed worker's lease lapses while the next one starts up (1-3 s)
    )


async def progress(store: MongoStore) -> tuple[int, int]:
    events = store.db.chain_events
    return await events.count_documents({}), await events.count_documents({"applied": True})


async def last_poll(store: MongoStore) -> object:
    state = await store.db.chain_state.find_one({"_id": "listener"}) or {}
    return state.get("last_poll_at")


async def wait_synced(store: MongoStore, target: object, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    cursor: dict[str, object] = {}
    pending = -1
    while time.monotonic() < deadline:
        cursor = await store.db.chain_cursor.find_one({"_id": "listener"}) or {}
        pending = await store.db.chain_events.count_documents({"outcome": "pending", "canonical": True})
        if cursor.get("applied_through") == target and pending == 0:
            return
        await asyncio.sleep(0.2)  # polling interval of a wait with a deadline
    raise AssertionError(f"not synced: cursor {cursor.get('applied_through')}, pending {pending}")


async def until(reached: Callable[[], Awaitable[bool]], worker: subprocess.Popen[bytes], what: str) -> None:
    """Poll the worker's reported progress until `reached`; the worker must get there (it is metered, not stuck)."""
    deadline = time.monotonic() + 60
    while not await reached():
        assert worker.poll() is None, f"the worker exited before {what}"
        assert time.monotonic() < deadline, f"no progress to {what} within 60 s"
        await asyncio.sleep(0.02)  # polling interval of a wait with a deadline


INGEST_KILLS = 4
APPLY_KILLS = 12


async def test_twenty_sigkills_during_ingestion_end_in_the_uninterrupted_state(
    long_chain: FakeChain, short_txn_mongo: str, tmp_path: Path
) -> None:
    reference_store = MongoStore(short_txn_mongo, f"ref_{uuid.uuid4().hex[:10]}")
    killed_store = MongoStore(short_txn_mongo, f"kill_{uuid.uuid4().hex[:10]}")
    await reference_store.ensure_indexes()
    fast = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.2)
    async with StacksApiClient(long_chain.base_url, retry=fast) as client:
        listener = make_listener(reference_store, client, page_size=50)
        report = await listener.poll_once()
        assert report.error is None and report.applied >= 280, report
    reference, ref_state = await state_digest(reference_store)
    target = ref_state["applied_through"]
    total = len(ref_state["events"])
    applied_heights = sorted(
        d["block_height"] for d in await reference_store.db.chain_events.find({"applied": True}).to_list(None)
    )
    assert len(applied_heights) == total  # every event of this history applies
    registry_events = len(long_chain.log_list(REGISTRY))
    assert 0 < registry_events < total
    # the confirmed tips of kills 5-16: evenly spread over the history, each admitting more events than the last
    caps = [applied_heights[(j + 1) * total // (APPLY_KILLS + 1)] for j in range(APPLY_KILLS)]
    allowance = [bisect.bisect_right(applied_heights, cap) for cap in caps]
    assert all(a < b for a, b in itertools.pairwise(allowance)) and allowance[-1] < total
    vault_logs = f"/extended/v2/smart-contracts/{VAULT}/logs"

    log = tmp_path / "workers.log"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    kills: list[dict[str, object]] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(KILLS):
            ingested_before, applied_before = await progress(killed_store)
            held_before, poll_before = long_chain.held, await last_poll(killed_store)
            bound: tuple[str, int] | None  # what the chain lets this worker reach, at most
            if i < INGEST_KILLS:
                long_chain.hold(vault_logs)
                long_chain.tip_cap = None
                bound = ("ingested", registry_events)
            elif i < INGEST_KILLS + APPLY_KILLS:
                long_chain.tip_cap = caps[i - INGEST_KILLS]
                bound = ("applied", allowance[i - INGEST_KILLS])
            else:
                long_chain.tip_cap = None
                bound = None
            if bound is not None and bound[0] == "ingested":
                if ingested_before < registry_events:
                    goal = ("ingested", rng.randint(ingested_before + 1, registry_events))
                else:
                    goal = ("asked for the vault's logs", 0)
            else:
                ceiling = total if bound is None else bound[1]
                goal = (
                    ("applied", rng.randint(applied_before + 1, ceiling)) if applied_before < ceiling else ("polled", 0)
                )

            async def reached(
                goal: tuple[str, int] = goal, held: int = held_before, poll: object = poll_before
            ) -> bool:
                if goal[0] == "asked for the vault's logs":
                    return long_chain.held > held
                if goal[0] == "polled":
                    return await last_poll(killed_store) != poll
                ingested, applied = await progress(killed_store)
                return (ingested if goal[0] == "ingested" else applied) >= goal[1]

            worker = spawn_worker(long_chain, short_txn_mongo, killed_store.db.name, log)
            processes.append(worker)
            started = time.monotonic()
            await until(reached, worker, f"{goal[0]} {goal[1]}")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            long_chain.release()  # a held request now answers a closed socket
            if i < KILLS - workers.NATURAL_KILLS:
                await workers.release_dead_worker(killed_store.db)
            ingested, applied = await progress(killed_store)  # what the killed worker left behind
            kills.append(
                {
                    "after_s": round(time.monotonic() - started, 2),
                    "goal": goal,
                    "ingested": ingested,
                    "applied": applied,
                }
            )
            print(f"kill {len(kills)}: {kills[-1]}", flush=True)
            if bound is not None:  # by construction: the chain let it go no further
                reached_value = ingested if bound[0] == "ingested" else applied
                assert reached_value <= bound[1] < total, (bound, kills[-1])
        long_chain.tip_cap = None
        survivor = spawn_worker(long_chain, short_txn_mongo, killed_store.db.name, log)
        processes.append(survivor)
        await wait_synced(killed_store, target)
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=15)
        digest, state = await state_digest(killed_store)
        print(f"KILLS {kills}; reference {total} events")
        assert state == ref_state, f"kills at {kills}"
        assert digest == reference
        counts = [d["apply_count"] for d in await killed_store.db.chain_events.find({"applied": True}).to_list(None)]
        assert counts and set(counts) == {1}  # no event applied twice
        mid_ingestion = [k for k in kills if 0 < k["ingested"] < total]  # type: ignore[operator]
        mid_work = [k for k in kills if k["applied"] < total]  # type: ignore[operator]
        assert mid_ingestion, kills  # the first kill at least: it stored one of the registry's events or more
        assert len(mid_work) >= INGEST_KILLS + APPLY_KILLS >= KILLS // 4, kills
    finally:
        long_chain.release()
        long_chain.tip_cap = None
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        # No drop_database: both databases live in this module's in-memory server, gone when the module ends. A
        # drop right after a SIGKILL inside a transaction can hang SecantusDB (docs/faults.md).
        for store in (reference_store, killed_store):
            await store.close()
