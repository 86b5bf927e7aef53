"""A scripted Stacks/Hiro API on loopback: a real uvicorn server (in a thread) answering realistic payloads."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless raw is set
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Reply]


class FakeHiro:
    """Routes are (METHOD, path) → a queue of replies (the last one repeats) or a handler function."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply] | Handler] = {}
        self.seen: list[Seen] = []
        self.base_url = ""
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.seen.clear()

    def on(self, method: str, path: str, *replies: Reply | Handler) -> None:
        with self._lock:
            if len(replies) == 1 and callable(replies[0]):
                self.routes[(method, path)] = replies[0]
            else:
                self.routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _handle(self, request: Request) -> Response:
        seen = Seen(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        with self._lock:
            self.seen.append(seen)
            route = self.routes.get((request.method, request.url.path))
            if route is None:
                reply = Reply(404, {"error": "Not Found", "message": f"Route {request.url.path} not found"})
            elif callable(route):
                reply = route(seen)
            else:
                reply = route.pop(0) if len(route) > 1 else route[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        content = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        return Response(content, status_code=reply.status, headers=reply.headers, media_type="application/json")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])


def run_fake_hiro() -> Iterator[FakeHiro]:
    fake = FakeHiro()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(fake.app(), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake Hiro server did not start")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
