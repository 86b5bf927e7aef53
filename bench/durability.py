"""Durability benchmark: acknowledged writes a SIGKILL of the embedded database loses, with and without
``--sync-on-commit`` (docs/operations.md "Durability", docs/faults.md "Durability").

    python -m bench.durability                  # 3 trials per mode, 4 writers, 10 s of writes before the kill
    python -m bench.durability --smoke          # 1 trial per mode, 1 s, 50 creations

Each trial starts SecantusDB (``secantusd-py``, the launcher `serve` uses, with its data on disk) with the
product's flags, but for ``--sync-on-commit`` which the mode sets or leaves out. ``--writers`` threads each commit
single-insert transactions (``start_transaction``, the product's write concern ``{w: majority, j: true}``) and note
every id whose commit returned. After ``--seconds`` the server is SIGKILLed mid-stream; it is restarted on the same
data and every noted id is looked up. Reported per trial: commits acknowledged, commits per second, and the
acknowledged ids the restarted server does not have.

Then, on the restarted server (in a database of its own), creation throughput: ``--writers`` tasks store
``--creations`` PendingCreation policies between them through ``PolicyRepository.insert`` (the policy and its
first audit event in one transaction, the write a creation request commits last); reported as policies per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bench.common import Report, owners, policy_documents, say, workdir
from policy_registry.embedded.process import free_port
from policy_registry.embedded.secantus import DURABLE, Durability, EmbeddedMongo
from services.core.models import PolicyRecord
from services.core.status import Cause
from services.store.mongo import MAJORITY, MongoStore
from services.store.policies import PolicyRepository


def _writer(uri: str, writer: int, acknowledged: list[str], stop: threading.Event) -> None:
    concern = MAJORITY.write_concern.document
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=1000, w=concern["w"], journal=concern["j"]
    )
    coll = client.bench_durability.writes
    i = 0
    try:
        while not stop.is_set():
            doc_id = f"{writer}-{i}"
            try:
                # start_transaction, not with_transaction: that one retries for up to 120 s once the server is gone
                with client.start_session() as session, session.start_transaction():
                    coll.insert_one({"_id": doc_id}, session=session)
            except PyMongoError:
                return  # the server is gone: the kill landed
            acknowledged.append(doc_id)
            i += 1
    finally:
        client.close()


def trial(tmp: Path, durability: Durability, writers: int, seconds: float, n_creations: int) -> dict[str, Any]:
    data, port = tmp / "data", free_port()
    log_path = tmp / "secantus.log"
    server = EmbeddedMongo(data, log_path=log_path, port=port, durability=durability).start()
    acked: list[list[str]] = [[] for _ in range(writers)]
    stop = threading.Event()
    threads = [threading.Thread(target=_writer, args=(server.uri, w, acked[w], stop)) for w in range(writers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)  # the length of the write stream, not a wait for a state
    pid = server.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # mid-stream: the writers are committing
    elapsed = time.perf_counter() - started
    stop.set()
    for t in threads:
        t.join()
    server.stop()
    restarted = EmbeddedMongo(data, log_path=log_path, port=port, durability=durability).start()
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(restarted.uri)
        present = {d["_id"] for d in client.bench_durability.writes.find({}, {"_id": 1})}
        client.close()
        creation_rate = asyncio.run(creations(restarted.uri, n_creations, writers))
    finally:
        restarted.stop()
    ids = [i for per_writer in acked for i in per_writer]
    missing = [i for i in ids if i not in present]
    return {
        "acknowledged": len(ids),
        "commits_per_s": round(len(ids) / elapsed, 1),
        "missing": len(missing),
        "creations_per_s": round(creation_rate, 1),
    }


async def creations(uri: str, n: int, writers: int) -> float:
    """Policies per second stored by `writers` concurrent tasks through the repository's insert."""
    store = MongoStore(uri, "bench_durability_creation")
    await store.ensure_indexes()
    docs = policy_documents(n, owners(50))
    records = [
        PolicyRecord.model_validate({**d, "id": str(d["_id"]), "status_detailed": "PendingCreation"}) for d in docs
    ]
    repo = PolicyRepository(store)

    async def write(share: list[PolicyRecord]) -> None:
        for record in share:
            await repo.insert(record, Cause.REQUEST)

    started = time.perf_counter()
    await asyncio.gather(*(write(records[w::writers]) for w in range(writers)))
    elapsed = time.perf_counter() - started
    await store.close()
    return n / elapsed


def run(args: argparse.Namespace) -> dict[str, Any]:
    report = Report("durability", "smoke" if args.smoke else "full")
    modes = {"sync-on-commit": DURABLE, "no-sync": Durability(sync_on_commit=False)}
    totals: dict[str, dict[str, float]] = {}
    for t in range(args.trials):
        for name, durability in modes.items():  # interleaved, so machine load falls on both modes alike
            with workdir("durability") as tmp:
                say(
                    f"trial {t + 1}/{args.trials}, {name}: {args.writers} writers for {args.seconds:.0f}s, then SIGKILL"
                )
                row = trial(tmp, durability, args.writers, args.seconds, args.creations)
            report.add(mode=name, trial=t + 1, **row)
            agg = totals.setdefault(name, {"acknowledged": 0, "missing": 0, "rate": 0.0, "creation_rate": 0.0})
            agg["acknowledged"] += row["acknowledged"]
            agg["missing"] += row["missing"]
            agg["rate"] += row["commits_per_s"] / args.trials
            agg["creation_rate"] += row["creations_per_s"] / args.trials
    for name, agg in totals.items():
        report.note(
            f"{name}: {int(agg['missing'])} of {int(agg['acknowledged'])} acknowledged commits missing after the "
            f"restart; {agg['rate']:.1f} commits/s on average; {agg['creation_rate']:.1f} creations/s"
        )
    if "no-sync" in totals and totals["no-sync"]["rate"]:
        cost = 1 - totals["sync-on-commit"]["rate"] / totals["no-sync"]["rate"]
        creation_cost = 1 - totals["sync-on-commit"]["creation_rate"] / totals["no-sync"]["creation_rate"]
        report.note(f"--sync-on-commit costs {cost:.0%} of the commit rate and {creation_cost:.0%} of creations/s")
    return report.emit()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--trials", type=int)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--creations", type=int)
    args = parser.parse_args(argv)
    args.trials = args.trials or (1 if args.smoke else 3)
    args.seconds = args.seconds or (1.0 if args.smoke else 10.0)
    args.creations = args.creations or (50 if args.smoke else 1000)
    return run(args)


if __name__ == "__main__":
    main()
