"""The API as the benches and fault tests run it: `create_app` under uvicorn with `policy-registry serve`'s own
options (`policy_registry.server.uvicorn_options`), but with MONGODB_URI required and no embedded devnet (the
benches that need a chain give STACKS_API_URL themselves).

    MONGODB_URI=... PORT=... python -m bench.api_process

BENCH_GC_LOG=path: append one line per garbage collection (monotonic time, generation, milliseconds, objects
collected) to `path`, for the fan-out bench's analysis (docs/performance.md); off by default.
BENCH_MEMORY_REPORT=path: trace allocations (tracemalloc, which slows everything down) and, on SIGUSR1, write to
`path` what is allocated, by file and line, and the live objects the collector tracks, by type (`--memory-report`
of bench/fanout.py).
"""

from __future__ import annotations

import collections
import gc
import os
import signal
import time
import tracemalloc
from typing import Any, TextIO

import uvicorn

from policy_registry.app import create_app
from policy_registry.logging_setup import configure_logging
from policy_registry.server import uvicorn_options
from policy_registry.settings import Settings


def log_collections(out: TextIO) -> None:
    started: list[float] = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            elapsed = (time.perf_counter() - started[0]) * 1000
            out.write(f"{time.monotonic():.4f} {info['generation']} {elapsed:.2f} {info['collected']}\n")
            out.flush()

    gc.callbacks.append(callback)


def report_memory_on_signal(path: str) -> None:
    tracemalloc.start(8)

    def report(*_: object) -> None:
        snapshot = tracemalloc.take_snapshot()
        kinds = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        with open(path, "w") as out:
            out.write(f"tracked objects {sum(kinds.values())}\n")
            for kind, count in kinds.most_common(60):
                out.write(f"objects {count} {kind}\n")
            stats = snapshot.statistics("traceback")
            out.write(f"allocated {sum(s.size for s in stats)}\n")
            for stat in stats[:80]:
                out.write(f"block {stat.size} {stat.count}\n")
                for frame in stat.traceback.format()[-16:]:
                    out.write(f"  {frame}\n")
            for stat in snapshot.statistics("filename")[:40]:
                out.write(f"file {stat.size} {stat.count} {stat.traceback[0].filename}\n")
        with open(path + ".done", "w") as done:
            done.write("done\n")

    signal.signal(signal.SIGUSR1, report)


def main() -> None:
    settings = Settings()
    if not settings.mongodb_uri:
        raise SystemExit("set MONGODB_URI")
    configure_logging(settings.log_level, settings.log_format)
    gc_log = os.environ.get("BENCH_GC_LOG")
    if gc_log:
        log_collections(open(gc_log, "a"))
    memory_report = os.environ.get("BENCH_MEMORY_REPORT")
    if memory_report:
        report_memory_on_signal(memory_report)
    app = create_app(settings, settings.mongodb_uri)
    # the fan-out bench opens thousands of connections at once: a longer accept queue, nothing else differs
    options = {**uvicorn_options(settings), "backlog": 8192}
    if os.environ.get("BENCH_WS_IMPL"):  # compare uvicorn WebSocket back ends (docs/performance.md)
        options["ws"] = os.environ["BENCH_WS_IMPL"]
    uvicorn.run(app, **options)


if __name__ == "__main__":
    main()
