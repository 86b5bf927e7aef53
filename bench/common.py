"""Shared pieces of the benchmarks: the database and API processes, percentiles, the machine, the report.

Every benchmark starts its own SecantusDB (its own process, data in a temporary directory) and, where it measures
the HTTP stack, a real ``policy-registry serve`` process on a free loopback port. Figures are printed as a table
and as one JSON line (``BENCH {...}``) that the smoke tests and docs/performance.md read.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId

from policy_registry.embedded.process import free_port
from policy_registry.embedded.secantus import DURABLE, Durability, EmbeddedMongo

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("Conservative", "Balanced", "Aggressive")
# A realistic mix: most policies are live or finished; few are in flight.
STATUS_WEIGHTS = {
    "Active": 40,
    "Expired": 25,
    "Settled": 15,
    "PendingCreation": 5,
    "FailedCreation": 5,
    "Settling": 3,
    "Expiring": 3,
    "FailedSettlement": 2,
    "FailedExpiration": 2,
}
VAULT = "STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32.liquidity-pool-vault"


def owners(n: int, seed: int = 11) -> list[str]:
    """``n`` distinct, valid testnet single-sig addresses (c32check over random hash160s)."""
    from services.chain.c32 import encode_address

    rng = random.Random(seed)
    return [encode_address(26, rng.randbytes(20)) for _ in range(n)]


# --- processes --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def secantus(workdir: Path, *, memory: bool = False, durability: Durability = DURABLE) -> Iterator[EmbeddedMongo]:
    """The server `serve` starts, with its flags (``--sync-on-commit`` included unless `durability` says not)."""
    storage = ":memory:" if memory else workdir / "secantus-data"
    with EmbeddedMongo(storage, log_path=workdir / "secantus.log", durability=durability) as server:
        yield server


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def api_env(mongodb_uri: str, database: str, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": database,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "RUN_WORKER": "false",
        "RATE_LIMIT_PER_S": "0",  # the benches are one client hammering from one address
        "WS_RATE_LIMIT_PER_S": "0",
        "LOG_LEVEL": "WARNING",
        "GRAPHIQL_ENABLED": "false",
        # SecantusDB under a full bench answers slowly: give the API's driver the patience the raw driver has
        "MONGODB_TIMEOUT_MS": "120000",
        **extra,
    }


@contextlib.contextmanager
def api_server(mongodb_uri: str, database: str, log_dir: Path, root: Path = ROOT, **extra: str) -> Iterator[ApiServer]:
    """The API as its own process (bench/api_process.py: uvicorn, the app and its lifespan), run from the checkout
    `root` (another one measures an older version of the service)."""
    port = free_port()
    log_path = log_dir / f"api-{port}.log"
    env = api_env(mongodb_uri, database, port, **extra)
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.api_process"], cwd=root, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log_path)
        yield ApiServer(url, process, log_path)
    finally:
        _stop(process)


NODE_PEER = ROOT / "bench" / "node_peer"


@contextlib.contextmanager
def node_peer(mongodb_uri: str, database: str, log_dir: Path) -> Iterator[ApiServer]:
    """The fan-out bench's Node reference server (bench/node_peer: graphql-js + graphql-ws, one change stream) as
    its own process, ready once its change stream is open. `npm ci` in bench/node_peer first (dev.py bench does)."""
    if not (NODE_PEER / "node_modules" / "graphql-ws").exists():
        raise RuntimeError("run `npm ci` in bench/node_peer first (python3 dev.py bench does)")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("the Node peer needs `node` (Node 20) on PATH")
    port = free_port()
    log_path = log_dir / f"node-peer-{port}.log"
    env = {**os.environ, "MONGODB_URI": mongodb_uri, "MONGODB_DATABASE": database, "PORT": str(port)}
    with log_path.open("ab") as out:
        process = subprocess.Popen([node, "server.mjs"], cwd=NODE_PEER, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log_path)
        yield ApiServer(url, process, log_path)
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not become ready within 60 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# --- data -------------------------------------------------------------------------------------------------


def policy_documents(
    n: int, owner_list: Sequence[str], *, seed: int = 5, start: datetime | None = None
) -> list[dict[str, Any]]:
    """``n`` policy documents as the repository stores them, ids increasing with creation time."""
    rng = random.Random(seed)
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    base = start or datetime(2026, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        created = base + timedelta(seconds=30 * i)
        status = rng.choices(statuses, weights)[0]
        onchain = status not in ("PendingCreation", "FailedCreation")
        tier = rng.choice(TIERS)
        amount = rng.choice((1_000_000, 5_000_000, 10_000_000, 50_000_000, 100_000_000))
        strike = rng.randrange(6_000_000, 12_000_000) * 1_000_000
        docs.append(
            {
                "_id": ObjectId(_oid_bytes(created, i)),
                "policy_id_onchain": i + 1 if onchain else None,
                "owner": owner_list[rng.randrange(len(owner_list))],
                "counterparty": VAULT,
                "policy_type": "PUT",
                "protected_value_usd8": strike,
                "protected_amount_sats": amount,
                "expiration_height": 1_000 + rng.randrange(0, 60_000),
                "risk_tier": tier,
                "premium_ustx": rng.randrange(100_000, 50_000_000),
                "collateral_ustx": strike * amount // 10**10,
                "status_onchain": {"Settled": 1, "Expired": 2}.get(status, 0) if onchain else None,
                "status_detailed": status,
                "quote_id": f"{i:032x}",
                "quote_expiry_height": 900,
                "quote_signature": None,
                "idempotency_key": None,
                "tx_id_creation": "0x" + f"{i:064x}" if onchain else None,
                "tx_id_status_update": None,
                "creation_height": 100 + i // 20 if onchain else None,
                "creation_burn_height": 50 + i // 40 if onchain else None,
                "created_at": created,
                "expiration_time_estimate": created + timedelta(days=30),
                "settlement_ustx": None,
                "settlement_price_usd8": None,
                "settled_at": None,
                "oracle_snapshot_creation": {
                    "btc_usd8": 10_000_000_000_000,
                    "stx_usd8": 100_000_000,
                    "volatility_ppm": 300_000,
                    "sources": ["local-1", "local-2", "local-3"],
                    "as_of": created,
                },
                "oracle_snapshot_settlement": None,
                "failure_reason": None,
                "version": 1,
                "updated_at": created,
            }
        )
    return docs


def _oid_bytes(moment: datetime, counter: int) -> bytes:
    return int(moment.timestamp()).to_bytes(4, "big") + b"bench" + (counter % 2**24).to_bytes(3, "big")


# --- figures ----------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "database": f"SecantusDB {version('SecantusDB')} (secantusd-py, WiredTiger storage in a temp dir)",
        "pymongo": version("pymongo"),
    }


@dataclass
class Report:
    name: str
    mode: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, **row: Any) -> None:
        self.rows.append(row)
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def emit(self) -> dict[str, Any]:
        payload = {
            "bench": self.name,
            "mode": self.mode,
            "machine": machine(),
            "command": " ".join([Path(sys.executable).name, "-m", f"bench.{self.name}", *sys.argv[1:]]),
            "rows": self.rows,
            "notes": self.notes,
            **self.extra,
        }
        print("BENCH " + json.dumps(payload, default=str), flush=True)
        return payload


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)
