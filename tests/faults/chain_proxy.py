"""A fault-injecting HTTP proxy on loopback in front of a Stacks API (the devnet): a real uvicorn server in a
thread that forwards every request upstream and, on a fixed schedule, answers instead:

- bursts of 503s, timeouts (holds the request longer than the client waits), 429 with ``retry-after``,
- truncated JSON (the upstream's real answer cut in half),
- 410 Gone on the v2 contract-logs route (a deprecated route), for good.

``counts`` tells what was injected, ``seen`` how many requests passed. With ``step_path`` set, each request to
that path waits for one ``step()`` (``arrivals`` counts them): a test that steps the poll's first request sees the
state each poll left, every poll, however slow the machine.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class FaultPlan:
    burst_every: int = 11  # every Nth request starts a burst of 503s
    burst_length: int = 3
    timeout_every: int = 13
    timeout_s: float = 2.5  # longer than the client's timeout
    rate_limit_every: int = 17
    retry_after_s: str = "0.3"
    truncate_every: int = 19
    gone_v2_logs: bool = True


@dataclass
class ChainProxy:
    upstream: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    enabled: bool = True
    base_url: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    seen: int = 0
    step_path: str | None = None
    arrivals: int = 0
    _burst_left: int = 0
    _client: httpx.AsyncClient | None = None
    _permits: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def step(self) -> None:
        """Let one request to `step_path` through."""
        self._permits.release()

    def free(self) -> None:
        """No more stepping: what waits goes on."""
        self.step_path = None
        for _ in range(self.arrivals + 1):
            self._permits.release()

    def _fault(self, path: str) -> str | None:
        if not self.enabled:
            return None
        if self.plan.gone_v2_logs and path.startswith("/extended/v2/smart-contracts/") and path.endswith("/logs"):
            return "gone"
        n = self.seen
        if self._burst_left > 0:
            self._burst_left -= 1
            return "503"
        if n % self.plan.burst_every == 0:
            self._burst_left = self.plan.burst_length - 1
            return "503"
        if n % self.plan.timeout_every == 0:
            return "timeout"
        if n % self.plan.rate_limit_every == 0:
            return "429"
        if n % self.plan.truncate_every == 0:
            return "truncate"
        return None

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if self.step_path is not None and path == self.step_path:
            self.arrivals += 1
            await asyncio.to_thread(self._permits.acquire, True, 60)
        self.seen += 1
        fault = self._fault(path)
        if fault is not None:
            self.counts[fault] += 1
        if fault == "gone":
            return Response(b'{"error":"this route is deprecated"}', 410, media_type="application/json")
        if fault == "503":
            return Response(b"<html>503 Service Unavailable</html>", 503, media_type="text/html")
        if fault == "429":
            return Response(
                b'{"error":"rate limited"}',
                429,
                headers={"retry-after": self.plan.retry_after_s},
                media_type="application/json",
            )
        try:
            payload = await request.body()
        except ClientDisconnect:
            return Response(b"", 499)
        if fault == "timeout":
            await asyncio.sleep(self.plan.timeout_s)  # the client gives up first; the answer goes nowhere
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        upstream = await self._client.request(
            request.method,
            path,
            params=dict(request.query_params),
            content=payload,
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("host", *HOP_HEADERS)},
        )
        body = upstream.content
        if fault == "truncate" and len(body) > 2:
            body = body[: len(body) // 2]
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(body, upstream.status_code, headers=headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])


def run_proxy(proxy: ChainProxy) -> Iterator[ChainProxy]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(proxy.app(), log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("chain proxy did not start")
        time.sleep(0.01)
    proxy.base_url = f"http://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
