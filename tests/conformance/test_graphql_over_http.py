"""GraphQL over HTTP conformance: graphql-http's `serverAudits` (the spec's own audit list, run by Node's fetch)
against the whole app served by uvicorn on a loopback port. Every audit must pass: no error (a MUST) and no warning
(a SHOULD); notices (a MAY) are allowed but listed.

Needs Node 20 and `npm ci` in tests/conformance (``python3 dev.py test`` runs it)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from tests.security.hostile import server_in_thread

HERE = Path(__file__).resolve().parent


async def test_graphql_http_server_audits_pass_without_errors_or_warnings(
    mongo_server: EmbeddedMongo, settings: Settings
) -> None:
    node = shutil.which("node")
    assert node is not None, "node (20+) is needed for the GraphQL-over-HTTP audits"
    assert (HERE / "node_modules" / "graphql-http").exists(), "run `npm ci` in tests/conformance (dev.py test does)"
    live = settings.model_copy(
        update={"instance_id": f"audit-{uuid.uuid4().hex[:8]}", "run_worker": False, "rate_limit_per_s": 0.0}
    )
    async with server_in_thread(live, mongo_server.uri) as server:
        audit = await asyncio.create_subprocess_exec(
            node,
            str(HERE / "audit.mjs"),
            f"{server.http_url}/graphql",
            cwd=HERE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(audit.communicate(), 120)
    assert audit.returncode == 0, err.decode()
    results = json.loads(out.decode().strip().splitlines()[-1])
    assert len(results) >= 50, results  # the whole list ran
    failed = [r for r in results if r["status"] in ("error", "warn")]
    assert not failed, json.dumps(failed, indent=1)
    notices = [f"{r['id']} {r['name']}: {r['reason']}" for r in results if r["status"] == "notice"]
    print("graphql-http audits:", len(results), "run;", "notices:", notices or "none")
