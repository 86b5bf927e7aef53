"""Run a hostile request against a real server while a second client polls `/healthz`.

The server runs in a thread with its own event loop, so a request that blocks the server's loop shows up as a slow
`/healthz` answer measured from the test's loop, which the hostile request cannot block. Bounds (docs/security.md): the
hostile request is answered within `answer_ms`, and no `/healthz` probe waits more than `healthz_ms`. The server's
log records during the request are kept (from the root logger and from every logger that does not propagate): at
most one WARNING line and never a traceback.

What the bounds are checked on: the CPU time the server's event-loop thread spends inside each window (its thread
CPU clock), which is the time that request held the loop and everything else waited. Wall-clock times are measured
too and shown in every failure, but on a shared 2-core machine they also contain the time this process was not
scheduled or waited for the GIL of the test's own thread, which no request caused (a CI run once saw a 211 ms
answer whose first `/healthz` probe took the same 211 ms and the next 1.6 ms). A request that does not answer at
all is still caught: every window has a wall-clock ceiling of `HANG_MS`. Garbage collection is paused inside the
windows (collected and frozen first), since a full collection of the test process's heap would be charged to
whichever thread triggered it. The clock starts only after a round trip through the server that follows the
collection, so the work the collection or the previous window left on the server's loop is not charged to the
request. A failed bound lists the server thread's stacks sampled in the window.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx
import uvicorn

from policy_registry.app import create_app
from policy_registry.server import uvicorn_options
from policy_registry.settings import Settings

T = TypeVar("T")

ANSWER_MS = 50.0
HEALTHZ_MS = 100.0
HANG_MS = 10_000.0  # wall-clock ceiling of any window: far beyond a slow machine, well below the client's timeout


@dataclass
class ServerInThread:
    """The app under uvicorn, as `serve` configures it, in a thread of its own."""

    http_url: str
    ws_url: str
    server: uvicorn.Server
    thread: threading.Thread
    cpu_clock: int  # the server thread's CPU-time clock (pthread_getcpuclockid)

    def cpu_ms(self) -> float:
        """CPU time the server's event-loop thread has used so far."""
        return time.clock_gettime(self.cpu_clock) * 1000


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns the signals
        pass

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def server_in_thread(settings: Settings, mongodb_uri: str) -> AsyncIterator[ServerInThread]:
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP (proto 0 does not), and
    # without it a keep-alive response written in two parts waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {k: v for k, v in uvicorn_options(settings).items() if k not in ("host", "port", "loop")}
    server = _Server(uvicorn.Config(create_app(settings, mongodb_uri), loop="asyncio", **options))
    failure: list[BaseException] = []
    clocks: list[int] = []

    def run() -> None:
        clocks.append(time.pthread_getcpuclockid(threading.get_ident()))
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, name="hostile-target", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:  # polling interval of a start-up wait with a deadline, not a stand-in for a signal
        if failure or not thread.is_alive():
            raise RuntimeError("the server under test did not start") from (failure[0] if failure else None)
        if time.monotonic() > deadline:
            raise TimeoutError("the server under test did not start within 60 s")
        await asyncio.sleep(0.02)
    try:
        urls = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql"
        yield ServerInThread(*urls, server, thread, clocks[0])
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 20)
        sock.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Outcome(Generic[T]):
    result: T
    answer_ms: float  # wall clock, send to answer
    answer_cpu_ms: float  # the server loop's CPU time over the same window
    healthz_ms: list[float] = field(default_factory=list)  # wall clock of each probe
    healthz_cpu_ms: list[float] = field(default_factory=list)  # the server loop's CPU time during each probe
    records: list[logging.LogRecord] = field(default_factory=list)
    server_stacks: list[str] = field(default_factory=list)  # what the server thread ran, sampled in the window

    @property
    def warnings(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.WARNING]

    @property
    def tracebacks(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.exc_info or r.stack_info]


async def run_hostile(
    target: ServerInThread,
    send: Callable[[], Awaitable[T]],
    *,
    answer_ms: float = ANSWER_MS,
    healthz_ms: float = HEALTHZ_MS,
    check: bool = True,
) -> Outcome[T]:
    """Send one hostile request with `send` while polling `/healthz`; with `check`, assert both bounds and the log.

    `send` is timed whole: open its client (an httpx client builds an SSL context, ~20-50 ms) before the call."""
    handler = _Records()
    root = logging.getLogger()
    waits: list[float] = []
    waits_cpu: list[float] = []
    stop = asyncio.Event()

    async with httpx.AsyncClient(base_url=target.http_url, timeout=30) as probe:

        async def poll() -> None:
            while True:
                started, started_cpu = time.perf_counter(), target.cpu_ms()
                response = await probe.get("/healthz")
                waits_cpu.append(target.cpu_ms() - started_cpu)
                waits.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
                if stop.is_set():
                    return
                await asyncio.sleep(0.005)  # probe interval

        # Also every logger that does not propagate (uvicorn's default log configuration, applied by any other
        # test's uvicorn.Config, stops `uvicorn` propagating; its "Exception in ASGI application" would be missed).
        listening = [root, *_non_propagating_loggers()]
        with _no_gc_pause(), _server_stacks(target) as stacks:
            # Round trips through the server before the clock starts, with the collection above already done: the
            # probe's connection is open, the app's first-request work is done, and whatever the collection or the
            # previous window left on the server's loop (finalizers of a refused operation, I/O that waited while
            # this thread held the GIL) has run. The window then holds the hostile request's work.
            await probe.get("/healthz")
            await probe.post("/graphql", json={"query": "{ __typename }"})
            for logger in listening:
                logger.addHandler(handler)
            poller = asyncio.create_task(poll())
            try:
                stacks.start()
                started, started_cpu = time.perf_counter(), target.cpu_ms()
                result = await send()
                elapsed_cpu = target.cpu_ms() - started_cpu
                elapsed = (time.perf_counter() - started) * 1000
            finally:
                stacks.stop()
                sampled = stacks.summary()
                stop.set()
                await poller
                for logger in listening:
                    logger.removeHandler(handler)
    outcome = Outcome(result, elapsed, elapsed_cpu, waits, waits_cpu, handler.records, sampled)
    if check:
        assert_bounds(outcome, answer_ms=answer_ms, healthz_ms=healthz_ms)
    return outcome


def _non_propagating_loggers() -> list[logging.Logger]:
    loggers = logging.Logger.manager.loggerDict.values()
    return [logger for logger in loggers if isinstance(logger, logging.Logger) and not logger.propagate]


class _StackSampler:
    """Samples the server thread's stack about every millisecond of a window, from a thread of its own, so that a
    failed bound says what the server thread ran. It needs the GIL: a window with CPU time and no sample was one
    call that held it."""

    def __init__(self, thread_ident: int, interval_s: float = 0.001) -> None:
        self._ident = thread_ident
        self._interval_s = interval_s
        self._samples: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def summary(self) -> list[str]:
        """Each distinct sample (its innermost four frames), most frequent first."""
        total = sum(self._samples.values())
        return [f"{total} samples", *(f"{n} x {stack}" for stack, n in self._samples.most_common(5))]

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            frame = sys._current_frames().get(self._ident)
            frames: list[str] = []
            while frame is not None and len(frames) < 4:  # no source lines read: the sampler stays cheap
                code = frame.f_code
                frames.append(f"{code.co_name} {'/'.join(code.co_filename.split('/')[-2:])}:{frame.f_lineno}")
                frame = frame.f_back
            if frames:
                self._samples[" < ".join(frames)] += 1


@contextmanager
def _server_stacks(target: ServerInThread) -> Iterator[_StackSampler]:
    ident = target.thread.ident
    assert ident is not None
    sampler = _StackSampler(ident)
    try:
        yield sampler
    finally:
        sampler.stop()


@contextmanager
def _no_gc_pause() -> Iterator[None]:
    gc.collect()
    gc.freeze()  # what exists now is never scanned in the window
    gc.disable()  # and nothing new triggers a collection: the window is short, reference counting frees the rest
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def assert_bounds(outcome: Outcome[T], *, answer_ms: float = ANSWER_MS, healthz_ms: float = HEALTHZ_MS) -> None:
    wall = f"{outcome.answer_ms:.1f} ms wall clock"
    assert outcome.answer_cpu_ms <= answer_ms, (
        f"the hostile request held the server loop {outcome.answer_cpu_ms:.1f} ms (> {answer_ms}; {wall}); "
        f"the server thread's stacks sampled in the window: {outcome.server_stacks}"
    )
    assert outcome.answer_ms <= HANG_MS, f"the hostile request was not answered within {HANG_MS} ms ({wall})"
    worst = max(outcome.healthz_cpu_ms, default=0.0)
    assert worst <= healthz_ms, (
        f"/healthz waited on {worst:.1f} ms of server-loop work (> {healthz_ms}) during the hostile request; "
        f"wall clock of the probes: {[round(w, 1) for w in outcome.healthz_ms]}"
    )
    assert max(outcome.healthz_ms, default=0.0) <= HANG_MS, f"a /healthz probe hung: {outcome.healthz_ms}"
    assert not outcome.tracebacks, [r.getMessage() for r in outcome.tracebacks]
    assert len(outcome.warnings) <= 1, [r.getMessage() for r in outcome.warnings]
