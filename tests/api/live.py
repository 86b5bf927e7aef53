"""Real servers for WebSocket tests: `policy-registry serve` child processes, or uvicorn inside the test's loop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import uvicorn

from policy_registry.app import create_app
from policy_registry.embedded.process import free_port
from policy_registry.server import uvicorn_options
from policy_registry.settings import Settings


class ApiProcess:
    """`python -m policy_registry.cli serve` on a free port, configured only through its environment."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 60) -> ApiProcess:
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "policy_registry.cli", "serve"],
            env=self.env,
            cwd=self.log_path.parent,  # no stray .env
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> ApiProcess:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.http_url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class _LoopServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The test runner owns the signals; the server stops when the test says so.
        yield


@asynccontextmanager
async def serve_in_loop(settings: Settings, mongodb_uri: str, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """The app under uvicorn (as `serve` configures it) in this event loop; yields its ws:// GraphQL URL. `sock`: a
    socket already bound, for a caller that needs the port in its settings (e.g. the allowed origins)."""
    app = create_app(settings, mongodb_uri)
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {k: v for k, v in uvicorn_options(settings).items() if k not in ("host", "port")}
    config = uvicorn.Config(app, **options)
    server = _LoopServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        sock.close()
