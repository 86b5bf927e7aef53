"""The API as the benches and fault tests run it: `create_app` under uvicorn with `policy-registry serve`'s own
options (`policy_registry.server.uvicorn_options`), but with MONGODB_URI required and no embedded devnet (the
benches that need a chain give STACKS_API_URL themselves).

    MONGODB_URI=... PORT=... python -m bench.api_process

BENCH_GC_LOG=path: append one line per garbage collection (monotonic time, generation, milliseconds, objects
collected) to `path`, for the fan-out bench's analysis (docs/performance.md); off by default.
BENCH_MEMORY_REPORT=path: trace allocations (tracemalloc, which slows everything down); the first SIGUSR1 takes a
baseline, the next writes to `path` what was allocated since and is still alive, by layer (uvicorn, Strawberry, ...)
and by allocation site (`--memory-report` of bench/fanout.py).
"""

from __future__ import annotations

import collections
import gc
import os
import signal
import time
import tracemalloc
from pathlib import Path
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


LAYERS = ("uvicorn", "websockets", "starlette", "strawberry", "graphql", "pymongo", "pydantic")


def layer_of(traceback: tracemalloc.Traceback) -> str:
    """Who allocated a block: the innermost frame in a library of the stack or in the project (the standard
    library's own frames, e.g. asyncio's, count for the caller that asked for them)."""
    for frame in reversed(traceback):  # innermost first (tracemalloc keeps the most recent frame last here)
        name = frame.filename
        for layer in LAYERS:
            if f"site-packages/{layer}/" in name:
                return "graphql-core" if layer == "graphql" else layer
        if "/site-packages/" not in name and any(f"/{p}/" in name for p in ("services", "resolvers", "schema")):
            return "project"
        if "/site-packages/" not in name and "/policy_registry/" in name:
            return "project"
    return "other (standard library at start-up, interpreter)"


def report_memory_on_signal(path: str) -> None:
    """The first SIGUSR1 takes the baseline snapshot (warm, before the subscribers connect); each later one writes
    what was allocated since, and is still alive, to `path`: by layer, by allocation site, by object type."""
    tracemalloc.start(16)
    baseline: list[tracemalloc.Snapshot] = []

    def report(*_: object) -> None:
        snapshot = tracemalloc.take_snapshot()
        if not baseline:
            baseline.append(snapshot)
            Path(path + ".done").write_text("baseline\n")
            return
        diff = [d for d in snapshot.compare_to(baseline[0], "traceback") if d.size_diff > 0]
        kinds = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        with open(path, "w") as out:
            out.write(f"allocated since the baseline {sum(d.size_diff for d in diff)}\n")
            layers: collections.Counter[str] = collections.Counter()
            for d in diff:
                layers[layer_of(d.traceback)] += d.size_diff
            for layer, size in layers.most_common():
                out.write(f"layer {size} {layer}\n")
            for d in sorted(diff, key=lambda d: -d.size_diff)[:80]:
                out.write(f"block {d.size_diff} {d.count_diff}\n")
                for frame in d.traceback.format()[-16:]:
                    out.write(f"  {frame}\n")
            out.write(f"young objects the collector tracks {sum(kinds.values())}\n")
            for kind, count in kinds.most_common(40):
                out.write(f"objects {count} {kind}\n")
        Path(path + ".done").write_text("done\n")

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
