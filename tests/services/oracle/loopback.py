"""A real HTTP server on 127.0.0.1 (uvicorn + Starlette, in the test event loop) that plays recorded exchange
responses: each test scripts the reply per path (and optionally query) and can inspect what was requested."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Reply:
    body: bytes | str
    status: int = 200
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class RecordedExchange:
    replies: dict[tuple[str, frozenset[tuple[str, str]] | None], Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def reply(self, path: str, reply: Reply, query: dict[str, str] | None = None) -> None:
        self.replies[(path, frozenset(query.items()) if query is not None else None)] = reply

    def find(self, path: str, query: dict[str, str]) -> Reply | None:
        return self.replies.get((path, frozenset(query.items()))) or self.replies.get((path, None))


class LoopbackExchange:
    def __init__(self) -> None:
        self.script = RecordedExchange()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.base_url = ""

    async def _handle(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.script.requests.append((request.url.path, query))
        reply = self.script.find(request.url.path, query)
        if reply is None:
            return Response(b'{"error":"not scripted"}', status_code=404, media_type="application/json")
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle)])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # noqa: ASYNC110 — uvicorn offers no start event
            await asyncio.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task
