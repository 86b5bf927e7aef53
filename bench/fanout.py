"""Fan-out benchmark: N concurrent `graphql-transport-ws` subscribers on one API process, half on
`policyUpdated(id)` and half on `policiesUpdated(owner)` of the same policy; each committed change of that policy
reaches all N. The same clients then do the same against the Node reference server (bench/node_peer: graphql-js +
graphql-ws, one change stream, EventEmitter fan-out) on the same database, and the project's figures are given as
ratios to it.

    python -m bench.fanout                 # full: 1,000, 5,000 and 10,000 subscribers, both servers
    python -m bench.fanout --subscribers 5000 --servers project   # one size, the project alone
    python -m bench.fanout --smoke         # 20 subscribers, 2 changes, both servers (the test suite runs this)

Figures per N:
- delivery latency: from the moment this process issued the change's committing write to each subscriber's
  receipt, p50/p99 over every receipt of every change; and the time to the *last* subscriber of each change,
  p50/max over the changes. The write's own round trip (`commit_p50_ms`, a few ms) is inside every figure: timed
  from the moment the commit *returned*, a subscriber the change stream served before this process resumed showed
  a negative latency. Times are CLOCK_MONOTONIC, which is system-wide on Linux, so the client processes' receipt
  times compare with this process's.
- memory: RSS of the API process with N idle subscribers minus its RSS before they connected, divided by N.
- CPU: the server process's user + system time over the changes, per change (and the client processes', which
  share the same 2 cores and bound what any server can reach); the API's garbage collections over
  the changes (count per generation, total and longest pause; gc.callbacks in bench/api_process.py).
- order: subscribers that received a version twice or after a newer one (must be 0), and receipts missing.

The subscribers run in separate client processes (``--client``), so the API process's CPU and memory are its own;
this process only writes the change. The baseline is the database's own change notification: a bare change stream
(`watch`) in this process on the same collection, timed from the same commit (one watcher, not N).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.common import (
    ROOT,
    ApiServer,
    Report,
    api_server,
    cpu_seconds,
    node_peer,
    owners,
    percentile,
    policy_documents,
    raise_fd_limit,
    rss_bytes,
    say,
    secantus,
    workdir,
)
from services.core.status import Cause
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

SELECTION = "{ id version statusDetailed failureReason updatedAt }"


# --- client process ---------------------------------------------------------------------------------------


async def _subscriber(
    url: str, query: str, variables: dict[str, Any], received: list[tuple[int, float]], ready: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=120, max_queue=64) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no ack: {ack}")
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
        ready.set()
        async for raw in ws:
            now = time.monotonic()
            message = json.loads(raw)
            if message.get("type") == "next":
                data = message["payload"].get("data") or {}
                node = data.get("policyUpdated") or data.get("policiesUpdated")
                if node is not None:
                    received.append((int(node["version"]), now))  # every receipt, in arrival order
            elif message.get("type") in ("error", "complete"):
                raise RuntimeError(f"subscription ended: {message}")


async def client_main(url: str, count: int, policy_id: str, owner: str, offset: int) -> None:
    """Open `count` subscribers, print READY, then for each `EXPECT v` line on stdin print `ROUND v got` once
    all have version v (or 60 s passed); on `DONE` print `RESULT {json}` with every receipt time."""
    raise_fd_limit(count + 256)
    receipts: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    tasks = []
    gate = asyncio.Semaphore(64)  # handshakes in flight at once

    async def start(i: int) -> None:
        if (offset + i) % 2 == 0:
            query, variables = f"subscription($id: ID!) {{ policyUpdated(id: $id) {SELECTION} }}", {"id": policy_id}
        else:
            query = f"subscription($o: String!) {{ policiesUpdated(owner: $o) {SELECTION} }}"
            variables = {"o": owner}
        async with gate:
            task = asyncio.create_task(_subscriber(url, query, variables, receipts[i], readies[i]))
            tasks.append(task)
            await asyncio.wait([task, asyncio.create_task(readies[i].wait())], return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()

    await asyncio.gather(*(start(i) for i in range(count)))
    # The clients are the instrument: their own full garbage collections (thousands of connections' objects) would
    # land in the middle of a change and delay its receipts, whichever server sent them.
    gc.collect()
    gc.freeze()
    print(f"READY {count}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "DONE":
            break
        version = int(line.split()[1])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            failed = [t for t in tasks if t.done()]
            if failed:
                failed[0].result()
            got = sum(1 for r in receipts if r and r[-1][0] >= version)
            if got == count:
                break
            await asyncio.sleep(0.005)
        print(f"ROUND {version} {sum(1 for r in receipts if r and r[-1][0] >= version)}", flush=True)
    print("RESULT " + json.dumps(receipts), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# --- orchestrator -----------------------------------------------------------------------------------------


async def _line(proc: asyncio.subprocess.Process, prefix: str, wait_s: float) -> str:
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout=wait_s)
        if not raw:
            raise RuntimeError(f"client exited (code {await proc.wait()}) while waiting for {prefix}")
        line = raw.decode().strip()
        if line.startswith(prefix):
            return line


async def subscribers_gauge(http: httpx.AsyncClient) -> int:
    text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("graphql_subscribers "):
            return int(float(line.split()[1]))
    return -1


SERVERS = ("project", "node")


MEMORY_REPORT: Path | None = None  # --memory-report: where the API process writes its allocations when idle


def _server(kind: str, mongo_uri: str, database: str, tmp: Path) -> contextlib.AbstractContextManager[ApiServer]:
    if kind == "project":
        extra = {"BENCH_GC_LOG": str(tmp / "gc.log")}
        if MEMORY_REPORT is not None:
            extra["BENCH_MEMORY_REPORT"] = str(MEMORY_REPORT)
        return api_server(mongo_uri, database, tmp, ROOT, **extra)
    return node_peer(mongo_uri, database, tmp)


def _memory_report(api: ApiServer, path: Path) -> None:
    """Ask the API process for its memory snapshot (bench/api_process.py: the first is the baseline, the next
    writes the report) and wait until it is taken."""
    done = Path(f"{path}.done")
    api.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 600
    while not done.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no memory report within 10 minutes")
        time.sleep(0.5)
    done.unlink()


def _collections(log: Path, start: float, end: float) -> dict[str, Any]:
    """The API process's garbage collections between `start` and `end` (bench/api_process.py BENCH_GC_LOG)."""
    if not log.exists():
        return {}
    counts, total_ms, worst_ms = [0, 0, 0], 0.0, 0.0
    for line in log.read_text().splitlines():
        at, generation, ms, _ = line.split()
        if start <= float(at) <= end:
            counts[int(generation)] += 1
            total_ms += float(ms)
            worst_ms = max(worst_ms, float(ms))
    return {"gc_gen0_1_2": counts, "gc_ms": round(total_ms, 1), "gc_max_ms": round(worst_ms, 1)}


async def measure(
    kind: str,
    n: int,
    changes: int,
    clients: int,
    mongo_uri: str,
    database: str,
    policy_id: str,
    owner: str,
    report: Report,
) -> dict[str, Any]:
    with workdir(f"fanout-{kind}-{n}") as tmp, _server(kind, mongo_uri, database, tmp) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
            # warm the process (imports, first WebSocket, first subscription) before the baseline RSS
            await _warm(api.url, policy_id)
            await asyncio.sleep(1.0)
            if kind == "project" and MEMORY_REPORT is not None:
                await asyncio.to_thread(_memory_report, api, MEMORY_REPORT)  # the baseline snapshot
            rss_before = rss_bytes(api.pid)
            per_client = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
            ws_url = api.url.replace("http://", "ws://") + "/graphql"
            procs = []
            offset = 0
            started = time.monotonic()
            for count in per_client:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.fanout",
                        "--client",
                        ws_url,
                        str(count),
                        policy_id,
                        owner,
                        str(offset),
                        cwd=ROOT,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        limit=2**28,
                    )
                )
                offset += count
            try:
                for proc in procs:
                    await _line(proc, "READY", wait_s=600)
                deadline = time.monotonic() + 120
                while await subscribers_gauge(http) < n:  # the server has registered every subscription
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {await subscribers_gauge(http)} of {n} subscriptions registered")
                    await asyncio.sleep(0.1)
                connect_s = time.monotonic() - started
                await asyncio.sleep(2.0)  # idle: let allocations settle
                rss_after = rss_bytes(api.pid)
                if kind == "project" and MEMORY_REPORT is not None:
                    await asyncio.to_thread(_memory_report, api, MEMORY_REPORT)
                    say(f"memory report of the idle API process: {MEMORY_REPORT}")
                say(
                    f"{kind}: {n} subscribers connected in {connect_s:.1f}s; "
                    f"RSS {rss_before >> 20} → {rss_after >> 20} MiB"
                )
                store = MongoStore(mongo_uri, database)
                repo = PolicyRepository(store)
                commits: dict[int, float] = {}  # version -> when its committing write was issued
                commit_rtts: list[float] = []
                baseline: list[float] = []
                cpu_before = cpu_seconds(api.pid)
                clients_cpu_before = sum(cpu_seconds(proc.pid) for proc in procs)
                async with await store.db.policies.watch(
                    [{"$match": {"documentKey._id": {"$exists": True}}}]
                ) as stream:
                    for i in range(changes):
                        policy = await repo.require(policy_id)
                        version = policy.version + 1
                        for proc in procs:
                            assert proc.stdin is not None
                            proc.stdin.write(f"EXPECT {version}\n".encode())
                            await proc.stdin.drain()
                        commits[version] = time.monotonic()
                        await repo.update_fields(policy, {"failure_reason": f"fan-out {n} #{i}"}, Cause.JOB)
                        commit_rtts.append(time.monotonic() - commits[version])
                        change = await stream.try_next()
                        while change is None:
                            change = await stream.try_next()
                        baseline.append(time.monotonic() - commits[version])
                        for proc in procs:
                            line = await _line(proc, "ROUND", wait_s=120)
                            got = int(line.split()[2])
                            if got < per_client[procs.index(proc)]:
                                report.note(
                                    f"{kind} N={n} change {version}: a client saw {got}/{per_client[procs.index(proc)]}"
                                )
                        await asyncio.sleep(0.3)
                cpu_ms_per_change = (cpu_seconds(api.pid) - cpu_before) * 1000 / changes
                clients_cpu = (sum(cpu_seconds(proc.pid) for proc in procs) - clients_cpu_before) * 1000 / changes
                collections = _collections(tmp / "gc.log", min(commits.values()), time.monotonic())
                await store.close()
                receipts: list[list[tuple[int, float]]] = []
                for proc in procs:
                    assert proc.stdin is not None
                    proc.stdin.write(b"DONE\n")
                    await proc.stdin.drain()
                    receipts += json.loads((await _line(proc, "RESULT", wait_s=120)).split(" ", 1)[1])
            finally:
                for proc in procs:
                    if proc.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            proc.kill()
                        await proc.wait()
    latencies: list[float] = []
    lasts: list[float] = []
    missing = 0
    # every subscriber must see each version at most once and in increasing order
    out_of_order = sum(1 for r in receipts if any(a[0] >= b[0] for a, b in itertools.pairwise(r)))
    firsts = [{version: at for version, at in reversed(r)} for r in receipts]
    for version, committed in commits.items():
        times = [r[version] - committed for r in firsts if version in r]
        missing += n - len(times)
        latencies += times
        if times:
            lasts.append(max(times))
    ms = [x * 1000 for x in latencies]
    row = {
        "server": kind,
        "subscribers": n,
        "changes": changes,
        "receipts": len(latencies),
        "missing": missing,
        "out_of_order": out_of_order,
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "last_p50_ms": round(percentile([x * 1000 for x in lasts], 50), 1),
        "last_max_ms": round(max(lasts) * 1000, 1),
        "last_ms_by_change": [round(x * 1000) for x in lasts],
        "commit_p50_ms": round(percentile([x * 1000 for x in commit_rtts], 50), 1),
        "baseline_watch_p50_ms": round(percentile([x * 1000 for x in baseline], 50), 1),
        "baseline_watch_p99_ms": round(percentile([x * 1000 for x in baseline], 99), 1),
        "ratio_p50": round(percentile(ms, 50) / max(percentile([x * 1000 for x in baseline], 50), 0.001), 2),
        "cpu_ms_per_change": round(cpu_ms_per_change, 1),
        "client_cpu_ms_per_change": round(clients_cpu, 1),  # both client processes together: the harness's share
        **collections,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_after_mib": round(rss_after / 2**20, 1),
        "kib_per_subscriber": round((rss_after - rss_before) / n / 1024, 1),
        "connect_s": round(connect_s, 1),
        "client_processes": clients,
    }
    report.add(**row)
    return row


def compare(project: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The project's figures as ratios to the Node peer's, same N, same run (< 1: the project is ahead)."""

    def ratio(key: str) -> float:
        return round(float(project[key]) / max(float(node[key]), 0.001), 2)

    return {
        "subscribers": project["subscribers"],
        "p50_vs_node": ratio("p50_ms"),
        "p99_vs_node": ratio("p99_ms"),
        "kib_per_subscriber_vs_node": ratio("kib_per_subscriber"),
        "cpu_per_change_vs_node": ratio("cpu_ms_per_change"),
    }


async def _warm(base_url: str, policy_id: str) -> None:
    from websockets.asyncio.client import connect

    url = base_url.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        query = f"subscription($id: ID!) {{ policyUpdated(id: $id) {SELECTION} }}"
        await ws.send(
            json.dumps({"id": "w", "type": "subscribe", "payload": {"query": query, "variables": {"id": policy_id}}})
        )
        await asyncio.sleep(0.5)
        await ws.send(json.dumps({"id": "w", "type": "complete"}))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report = Report("fanout", "smoke" if args.smoke else "full")
    raise_fd_limit(max(args.subscribers) * 2 + 1024)
    with workdir("fanout") as tmp, secantus(tmp) as mongo:
        database = "bench_fanout"
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
        owner = owners(1)[0]
        docs = policy_documents(50, [owner])
        target = next(d for d in docs if d["status_detailed"] == "Active")
        await client[database].policies.insert_many(docs)
        await client.close()
        indexed = MongoStore(mongo.uri, database)
        await indexed.ensure_indexes()
        await indexed.close()
        comparisons = []
        for n in args.subscribers:
            rows = {}
            for kind in args.servers:
                say(f"{kind}: fan-out to {n} subscribers, {args.changes} changes, {args.clients} client processes")
                rows[kind] = await measure(
                    kind, n, args.changes, args.clients, mongo.uri, database, str(target["_id"]), owner, report
                )
            if "project" in rows and "node" in rows:
                comparisons.append(compare(rows["project"], rows["node"]))
                say("  project / node: " + "  ".join(f"{k}={v}" for k, v in comparisons[-1].items()))
    report.extra["policy_owner_subscribers"] = "half policyUpdated(id), half policiesUpdated(owner), same policy"
    report.extra["vs_node"] = comparisons
    report.extra["load"] = os.getloadavg()
    return report.emit()


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--client":
        url, count, policy_id, owner, offset = argv[1:6]
        asyncio.run(client_main(url, int(count), policy_id, owner, int(offset)))
        return None
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--subscribers", type=int, nargs="+")
    parser.add_argument("--changes", type=int)
    parser.add_argument("--clients", type=int, help="client processes (default 2)")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS), help="default: both")
    parser.add_argument(
        "--memory-report",
        type=Path,
        help="trace the API's allocations (slow: figures are not comparable) and write them here once idle",
    )
    args = parser.parse_args(argv)
    global MEMORY_REPORT
    MEMORY_REPORT = args.memory_report
    args.subscribers = args.subscribers or ([20] if args.smoke else [1000, 5000, 10000])
    args.changes = args.changes or (2 if args.smoke else 20)
    args.clients = args.clients or 2
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return asyncio.run(run(args))


if __name__ == "__main__":
    main()
