"""The database is killed and restarted (same port, same data directory) while the API serves queries and
writers and the listener's apply loop write. During the outage the API answers coded errors (UNAVAILABLE) and
/readyz says 503; afterwards it recovers by itself within seconds; no acknowledged write is lost.

The kill is SIGKILL: the server gets no chance to flush. It runs with the product's flags (EmbeddedMongo's
defaults: `--sync-on-commit`, which fsyncs the log before a commit is acknowledged); without that flag SecantusDB,
SIGKILLed, loses some of the last writes it acknowledged (docs/faults.md). Each phase waits for what the load
reports (answers, acknowledged writes, refusals), not for a fixed time."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pymongo.errors import PyMongoError

from bench.ingest import REGISTRY, VAULT, History, event_documents
from policy_registry.embedded.process import free_port
from policy_registry.embedded.secantus import EmbeddedMongo
from services.chain import StacksApiClient, StacksTip
from services.core.errors import Conflict
from services.core.fencing import Unfenced
from services.core.status import Cause
from services.listener.poller import ChainListener, ListenerConfig, PollReport
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.factories import OWNER_A, make_policy
from tests.faults.conftest import ApiProcess

QUERY = "{ policies(first: 5) { totalCount edges { node { id } } } }"
RECOVERY_LIMIT_S = 20.0
KILL_SIGNAL = signal.SIGKILL
WRITERS = 4  # concurrent writers, each committing single-insert transactions back to back
PHASE_LIMIT_S = 30.0  # the most any phase may take to show what it waits for


async def until(condition: Callable[[], bool], what: Callable[[], object]) -> None:
    deadline = time.monotonic() + PHASE_LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {PHASE_LIMIT_S} s: {what()}"
        await asyncio.sleep(0.05)  # polling interval of a wait with a deadline


def kill(server: EmbeddedMongo, sig: signal.Signals) -> None:
    pid = server.process.pid
    assert pid is not None
    os.kill(pid, sig)
    server.process.stop()  # waits for it (and reaps it)


async def test_database_restart_under_load(tmp_path: Path, start_api_process: Callable[..., ApiProcess]) -> None:
    port = free_port()
    data = tmp_path / "db"

    def server() -> EmbeddedMongo:
        return EmbeddedMongo(data, log_path=tmp_path / "secantus.log", port=port)

    db = server().start()
    restarted: EmbeddedMongo | None = None
    database = "faults_restart"
    store = MongoStore(db.uri, database, timeout_ms=1000)
    await store.ensure_indexes()
    for _ in range(5):
        await PolicyRepository(store).insert(make_policy(owner=OWNER_A), Cause.REQUEST)
    history = History(150, seed=9)
    async with StacksApiClient("http://127.0.0.1:9") as unused:
        listener = ChainListener(store, unused, ListenerConfig(REGISTRY, VAULT, confirmations=1), Unfenced())
        events = event_documents(listener, history)
        await store.db.chain_events.insert_many(events)
        top = max(e["block_height"] for e in events)
        tip = StacksTip(top, f"0x{top:064x}", None, top + 1)
        api = start_api_process(db.uri, database, MONGODB_TIMEOUT_MS="1000")

        stop = asyncio.Event()
        answers: Counter[str] = Counter()
        acknowledged: list[str] = []
        write_failures = 0
        applied_reports: list[int] = []

        async def query_load() -> None:
            async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
                while not stop.is_set():
                    response = await http.post("/graphql", json={"query": QUERY})
                    assert response.status_code == 200, response.text
                    body = response.json()
                    if body.get("errors"):
                        codes = {e["extensions"]["code"] for e in body["errors"]}
                        assert codes == {"UNAVAILABLE"}, body
                        answers["UNAVAILABLE"] += 1
                    else:
                        answers["ok"] += 1
                    await asyncio.sleep(0.02)  # load pacing: a client polling every 20 ms

        async def writer() -> None:
            nonlocal write_failures
            repo = PolicyRepository(store)
            while not stop.is_set():
                record = make_policy(owner=OWNER_A)
                try:
                    await repo.insert(record, Cause.REQUEST)
                except (PyMongoError, Conflict):
                    write_failures += 1  # not acknowledged: the caller would retry
                    await asyncio.sleep(0.1)  # load pacing: the caller's retry interval
                    continue
                acknowledged.append(record.id)  # as fast as the server acknowledges: the kill finds commits in flight

        async def ingestion() -> None:
            # the listener's apply loop as the worker runs it: an error ends the poll, the next poll resumes
            while not stop.is_set():
                report = PollReport()
                try:
                    await listener._apply_confirmed(tip, report)
                except (PyMongoError, Conflict):
                    await asyncio.sleep(0.2)  # load pacing: the worker's back-off after a failed poll
                applied_reports.append(report.applied)
                await asyncio.sleep(0.05)  # load pacing: the listener's poll interval

        tasks = [asyncio.create_task(f()) for f in (query_load, ingestion, *[writer] * WRITERS)]
        try:
            # the kill lands mid-load: queries answered, writes acknowledged, events being applied
            def seen() -> object:
                return {"answers": answers, "acknowledged": len(acknowledged), "refused": write_failures}

            await until(lambda: answers["ok"] >= 5 and len(acknowledged) >= 200 and sum(applied_reports) > 0, seen)
            kill(db, KILL_SIGNAL)
            acknowledged_at_kill = len(acknowledged)
            # the outage, as the load sees it: coded UNAVAILABLE answers
            await until(lambda: answers["UNAVAILABLE"] >= 3, seen)
            async with httpx.AsyncClient(base_url=api.url, timeout=15) as http:
                ready = await http.get("/readyz")
                assert ready.status_code == 503, ready.text
                assert answers["UNAVAILABLE"] > 0, answers
                restarted = server().start()
                restarted_at = time.monotonic()
                back_at = None
                while time.monotonic() - restarted_at < RECOVERY_LIMIT_S:
                    body = (await http.post("/graphql", json={"query": QUERY})).json()
                    if not body.get("errors"):
                        back_at = time.monotonic()
                        break
                    await asyncio.sleep(0.1)  # polling interval of a wait with a deadline
                assert back_at is not None, "the API did not recover"
                recovery_s = back_at - restarted_at
                assert (await http.get("/readyz")).status_code == 200
            ok_before = answers["ok"]
            # and the load goes on: more answers, and writes acknowledged after the restart
            await until(lambda: answers["ok"] >= ok_before + 5 and len(acknowledged) >= acknowledged_at_kill + 5, seen)
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        # finish the ingestion after the load, then check every acknowledged write survived
        report = PollReport()
        await listener._apply_confirmed(tip, report)
    found = {str(d["_id"]) for d in await store.db.policies.find({"_id": {"$exists": True}}, {"_id": 1}).to_list(None)}
    lost = [i for i in acknowledged if i not in found]
    outcomes: Counter[Any] = Counter(d["outcome"] for d in await store.db.chain_events.find().to_list(None))
    print(
        f"RESTART answers {dict(answers)}; writes acknowledged {len(acknowledged)}, refused {write_failures}; "
        f"recovered in {recovery_s:.2f}s; events {dict(outcomes)}"
    )
    assert not lost, f"{len(lost)} acknowledged writes lost"
    assert outcomes == {"applied": len(events)}
    policies_from_chain = await store.db.policies.count_documents({"policy_id_onchain": {"$ne": None}})
    assert policies_from_chain == history.next_id - 1
    assert recovery_s < RECOVERY_LIMIT_S
    await store.close()
    assert restarted is not None
    restarted.stop()
