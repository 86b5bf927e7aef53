"""Fault-suite fixtures: the API as a real server process (bench/api_process.py, uvicorn on a loopback port)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from policy_registry.embedded.process import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ApiProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_api(mongodb_uri: str, database: str, log_dir: Path, **env: str) -> ApiProcess:
    port = free_port()
    log_path = log_dir / f"api-{port}.log"
    full_env = {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": database,
        "PORT": str(port),
        "RUN_WORKER": "false",
        "RATE_LIMIT_PER_S": "0",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.api_process"], cwd=ROOT, env=full_env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"API exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return ApiProcess(url, process, log_path)
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("API did not start within 60 s")
        time.sleep(0.1)


def stop_api(api: ApiProcess) -> None:
    if api.process.poll() is None:
        api.process.terminate()
        try:
            api.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.process.kill()
            api.process.wait()


@pytest.fixture
def start_api_process(tmp_path: Path) -> Iterator[Callable[..., ApiProcess]]:
    """``start_api_process(mongodb_uri, database, **env)``: an API process, stopped after the test."""
    started: list[ApiProcess] = []

    def start(mongodb_uri: str, database: str, **env: str) -> ApiProcess:
        api = start_api(mongodb_uri, database, tmp_path, **env)
        started.append(api)
        return api

    yield start
    for api in started:
        stop_api(api)
