"""Run a hostile request against a real server while a second client polls `/healthz`.

The server runs in a thread with its own event loop, so a request that blocks the server's loop shows up as a slow
`/healthz` answer measured from the test's loop, which the hostile request cannot block. Bounds (issue 15): the
hostile request is answered within `answer_ms`, and no `/healthz` probe waits more than `healthz_ms`. The server's
log records during the request are kept: at most one WARNING line and never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
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


@dataclass
class ServerInThread:
    """The app under uvicorn, as `serve` configures it, in a thread of its own."""

    http_url: str
    ws_url: str
    server: uvicorn.Server
    thread: threading.Thread


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

    def run() -> None:
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
        yield ServerInThread(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", server, thread)
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
    answer_ms: float
    healthz_ms: list[float] = field(default_factory=list)
    records: list[logging.LogRecord] = field(default_factory=list)

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
    root.addHandler(handler)
    waits: list[float] = []
    stop = asyncio.Event()

    async with httpx.AsyncClient(base_url=target.http_url, timeout=30) as probe:
        await probe.get("/healthz")  # connection open before the clock starts
        await probe.post("/graphql", json={"query": "{ __typename }"})  # the app's first-request work done too

        async def poll() -> None:
            while True:
                started = time.perf_counter()
                response = await probe.get("/healthz")
                waits.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
                if stop.is_set():
                    return
                await asyncio.sleep(0.005)  # probe interval

        poller = asyncio.create_task(poll())
        try:
            started = time.perf_counter()
            result = await send()
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            stop.set()
            await poller
            root.removeHandler(handler)
    outcome = Outcome(result, elapsed, waits, handler.records)
    if check:
        assert_bounds(outcome, answer_ms=answer_ms, healthz_ms=healthz_ms)
    return outcome


def assert_bounds(outcome: Outcome[T], *, answer_ms: float = ANSWER_MS, healthz_ms: float = HEALTHZ_MS) -> None:
    assert outcome.answer_ms <= answer_ms, f"hostile request answered in {outcome.answer_ms:.1f} ms (> {answer_ms})"
    worst = max(outcome.healthz_ms, default=0.0)
    assert worst <= healthz_ms, f"/healthz waited {worst:.1f} ms (> {healthz_ms}) during the hostile request"
    assert not outcome.tracebacks, [r.getMessage() for r in outcome.tracebacks]
    assert len(outcome.warnings) <= 1, [r.getMessage() for r in outcome.warnings]
