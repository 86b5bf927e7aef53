"""The example page (examples/web) in headless Chromium, served by the service at /app, offline: sign in with a
devnet demo wallet, quote, buy, the live list turning the policy Active when its block is mined, activation, Settled,
and the policy's history. Screenshots of each step go to .data/web/screenshots/ (not committed).

Needs the built page (`npm run build` in examples/web; python3 dev.py test builds it), Debian's chromium and
playwright-core (tests/browser); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import WEB, WebService

pytestmark = pytest.mark.devnet
ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / ".data" / "web" / "screenshots"


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (python3 dev.py test installs Debian's chromium when run as root)"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (BROWSER / "node_modules" / "playwright-core").exists():
        return "playwright-core is not installed: run `npm ci` in tests/browser (python3 dev.py test does)"
    if not (WEB / "dist" / "index.html").exists():
        return "the page is not built: run `npm ci && npm run build` in examples/web (python3 dev.py test does)"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_the_page_buys_watches_activates_and_shows_history(web_service: WebService) -> None:
    page = httpx.get(f"{web_service.url}/app", follow_redirects=True, timeout=10)
    assert page.status_code == 200 and "BitHedge Policy Registry" in page.text
    config = httpx.get(f"{web_service.url}/app/config.json", timeout=10).json()
    assert config == {"graphqlPath": "/graphql", "stacksApiUrl": web_service.stacks_api_url, "network": "devnet"}

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    script_input = {
        "url": f"{web_service.url}/app/",
        "stacksApiUrl": web_service.stacks_api_url,
        "wallet": "wallet_3",
        "screenshots": str(SCREENSHOTS),
    }
    done = subprocess.run(
        ["node", str(BROWSER / "web_page_check.mjs"), json.dumps(script_input)],
        cwd=BROWSER,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])

    assert result["external"] == [], "the page asked for something beyond loopback"
    assert result["consoleErrors"] == []
    assert result["errorShown"] is None
    assert "Premium" in result["quote"] and "Conservative" in result["quote"]
    status, settlement = result["settledRow"][1], result["settledRow"][7]
    assert status == "Settled" and settlement.endswith(" STX") and settlement != "0.000000 STX"
    assert [row[1:4] for row in result["history"]] == [
        ["—", "PendingCreation", "request"],
        ["PendingCreation", "PendingCreation", "request"],
        ["PendingCreation", "Active", "chain"],
        ["Active", "Settling", "request"],
        ["Settling", "Settled", "chain"],
    ]
    names = [Path(p).name for p in result["shots"]]
    assert names == [
        "01-signed-in.png",
        "02-quote.png",
        "03-pending.png",
        "04-active.png",
        "05-settled.png",
        "06-history.png",
    ]
    assert all(Path(p).stat().st_size > 10_000 for p in result["shots"])
