"""The TypeScript client's vitest suite (clients/typescript) against the real service and devnet.

vitest runs in Node with REGISTRY_URL and STACKS_API_URL pointing at the session's `web_service`: sign-in with a
devnet key, buy → Active → activate → Settled, a live list across a dropped WebSocket, the orders, typed errors;
and, without the service, the staleness check of the generated operation types and the live list's merge rule.
Every test must run and pass (a skipped one fails here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.web.conftest import CLIENT, WebService

pytestmark = pytest.mark.devnet
LOG = Path(__file__).resolve().parents[2] / ".data" / "web" / "vitest.log"

EXPECTED = {
    "generated operation types are current with the schema and the operations",
    "against the service and the devnet signs in with a devnet key, buys, sees Active, activates and sees Settled",
    "against the service and the devnet keeps a live list whole across a dropped WebSocket: nothing lost, nothing "
    "twice, nothing older",
    "against the service and the devnet signs in and buys through @stacks/connect's request methods (a key-backed "
    "stand-in for the browser wallet)",
    "against the service and the devnet orders lists exactly as the service does, in every order and both directions",
    "against the service and the devnet reports the service's errors as typed values with their codes",
    "VersionedList takes only newer versions: duplicates and older ones change nothing",
    "VersionedList drops a policy that leaves the filter, and an older version cannot bring it back",
    "VersionedList keeps the service's order as policies change",
    "VersionedList holds a truncated first read to its window",
    "VersionedList never goes back a version on a reload",
    "VersionedList matches filters as the service does",
}


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (CLIENT / "node_modules" / "vitest").exists():
        return "the client's dependencies are missing: run `npm ci` in clients/typescript (python3 dev.py test does)"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_the_typescript_client_against_the_service(web_service: WebService, tmp_path: Path) -> None:
    report = tmp_path / "vitest.json"
    env = {
        **os.environ,
        "REGISTRY_URL": web_service.url,
        "STACKS_API_URL": web_service.stacks_api_url,
        "CI": "1",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        ["npx", "vitest", "run", "--reporter=default", "--reporter=json", f"--outputFile.json={report}"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text(done.stdout + done.stderr)  # kept for a person to read (.data/ is not committed)
    output = done.stdout[-8000:] + done.stderr[-3000:]
    assert done.returncode == 0, output + "\n--- service log ---\n" + web_service.log_path.read_text()[-4000:]
    results = json.loads(report.read_text())
    outcomes = {t["fullName"]: t["status"] for f in results["testResults"] for t in f["assertionResults"]}
    assert set(outcomes) == EXPECTED, set(outcomes) ^ EXPECTED
    assert set(outcomes.values()) == {"passed"}, outcomes
