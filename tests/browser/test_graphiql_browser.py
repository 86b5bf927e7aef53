"""GraphiQL in a real browser: the service (uvicorn on a free loopback port, SecantusDB) serves the page and its
assets with no internet; headless Chromium shows the walkthrough tabs, runs a query and a subscription, and the
subscription renders a change the test makes to the policy.

Needs Debian's `chromium` (``python3 dev.py test`` installs it when it can) and ``npm ci`` in tests/browser
(playwright-core); skipped with the reason otherwise. The screenshot is kept at
``.data/browser/graphiql.png`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from services.core.status import Cause, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.api.live import serve_in_loop
from tests.factories import make_policy, next_onchain_id

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = ROOT / ".data" / "browser" / "graphiql.png"


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (python3 dev.py test installs Debian's chromium when run as root)"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HERE / "node_modules" / "playwright-core").exists():
        return "playwright-core is not installed: run `npm ci` in tests/browser (python3 dev.py test does)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


async def _read_line(stream: asyncio.StreamReader, prefix: str, within_s: float) -> str:
    while True:
        line = (await asyncio.wait_for(stream.readline(), within_s)).decode()
        if not line:
            raise AssertionError(f"the browser script ended before printing {prefix!r}")
        if line.startswith(prefix):
            return line[len(prefix) :].strip()


async def test_graphiql_runs_a_query_and_a_subscription_offline(mongo_server: EmbeddedMongo, db_name: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    origin = f"http://127.0.0.1:{port}"
    settings = Settings(
        _env_file=None,
        mongodb_database=db_name,
        cors_origins=[origin],
        ws_origins=[origin],
        rate_limit_per_s=0,
    )
    store = MongoStore(mongo_server.uri, db_name, timeout_ms=3000)
    await store.ensure_indexes()
    repo = PolicyRepository(store)
    onchain = next_onchain_id()
    policy = make_policy(
        status_detailed=StatusDetailed.Active,
        status_onchain=0,
        policy_id_onchain=onchain,
        tx_id_creation="0x" + "ab" * 32,
    )
    await repo.insert(policy, Cause.CHAIN, {"note": "browser test"})  # version 0
    settling = await repo.transition(policy, StatusDetailed.Settling, Cause.REQUEST, details={"by": "browser test"})
    for _ in range(2):
        await repo.insert(make_policy(status_detailed=StatusDetailed.Active), Cause.CHAIN, {})
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    script_input = {
        "url": f"{origin}/graphql",
        "screenshot": str(SCREENSHOT),
        "query": "query Browse { policies(first: 5) { totalCount edges { node { id statusDetailed } } } }",
        "expectQuery": '"totalCount": 3',
        "subscription": f'subscription Watch {{ policyUpdated(id: "{policy.id}", sinceVersion: 0) '
        "{ id policyIdOnChain statusDetailed version } }",
        "expectFirst": '"statusDetailed": "Settling"',
        "expectNext": '"statusDetailed": "Settled"',
    }
    try:
        async with serve_in_loop(settings, mongo_server.uri, sock):
            browser = await asyncio.create_subprocess_exec(
                "node",
                str(HERE / "graphiql_check.mjs"),
                json.dumps(script_input),
                cwd=HERE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert browser.stdout is not None and browser.stderr is not None
            try:
                await _read_line(browser.stdout, "SUBSCRIBED", within_s=90)
                await repo.transition(
                    settling,
                    StatusDetailed.Settled,
                    Cause.CHAIN,
                    changes={"status_onchain": 1, "settlement_ustx": 500_000_000},
                    details={"by": "browser test"},
                )
                result: dict[str, Any] = json.loads(await _read_line(browser.stdout, "RESULT ", within_s=60))
            except (AssertionError, TimeoutError) as exc:
                if browser.returncode is None:
                    browser.kill()
                errors = (await browser.stderr.read()).decode(errors="replace")
                raise AssertionError(f"{exc}\n{errors}") from exc
            assert await asyncio.wait_for(browser.wait(), 30) == 0
    finally:
        await store.client.drop_database(db_name)
        await store.close()
        sock.close()

    # the walkthrough's tabs, named after their first operation
    assert result["tabs"][:5] == ["RecentPolicies", "AuthChallenge", "Quote", "WatchPolicy", "MoveThePrice"]
    assert result["firstTabStartsWith"].startswith("# BitHedge Policy Registry")
    assert result["query"]["data"]["policies"]["totalCount"] == 3
    assert sorted(e["node"]["statusDetailed"] for e in result["query"]["data"]["policies"]["edges"]) == [
        "Active",
        "Active",
        "Settling",
    ]
    assert result["firstPayload"]["data"]["policyUpdated"] == {
        "id": policy.id,
        "policyIdOnChain": onchain,
        "statusDetailed": "Settling",
        "version": 1,
    }
    assert result["nextPayload"]["data"]["policyUpdated"]["statusDetailed"] == "Settled"
    assert result["nextPayload"]["data"]["policyUpdated"]["version"] == 2
    assert result["external"] == [], "GraphiQL asked for something beyond loopback"
    assert result["consoleErrors"] == []
    assert SCREENSHOT.stat().st_size > 10_000
