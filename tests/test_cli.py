"""The `policy-registry` command: help, schema export, and `serve` on the embedded default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from policy_registry.cli import main
from policy_registry.embedded.process import free_port


def test_help_lists_the_commands(capsys: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "policy_registry.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "serve" in result.stdout and "export-schema" in result.stdout


def test_export_schema_check(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert main(["export-schema", "--output", str(target)]) == 0
    assert main(["export-schema", "--output", str(target), "--check"]) == 0
    target.write_text(target.read_text() + "# edited\n")
    assert main(["export-schema", "--output", str(target), "--check"]) == 1


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def test_serve_starts_the_embedded_stack_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "EMBEDDED_DB_PATH": str(tmp_path / "db"), "LOG_LEVEL": "INFO"}
    env.pop("MONGODB_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "policy_registry.cli", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None and ready.json() == {"status": "ready", "database": True}
        body = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ policies { totalCount } }"}).json()
        assert body == {"data": {"policies": {"totalCount": 0}}}
        children = _children(proc.pid)
        assert children, "the embedded database runs as a child process"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "stopped secantusdb" in output and "stopped stacks-devnet" in output
    assert "operator token" in output and "wallet_1" in output  # the banner of the embedded default
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], "no process left behind"
    assert (tmp_path / "db").is_dir(), "data lives in a directory that survives restarts"
