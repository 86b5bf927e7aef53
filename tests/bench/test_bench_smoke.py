"""Each benchmark in bench/ runs in its smoke mode (tiny sizes) and prints well-formed figures, so the scripts
cannot rot between full runs. The figures themselves are not judged here (docs/performance.md holds them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(name: str, timeout: float = 240) -> dict[str, Any]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    assert len(lines) == 1, done.stdout[-3000:]
    payload: dict[str, Any] = json.loads(lines[0][len("BENCH ") :])
    assert payload["bench"] == name and payload["mode"] == "smoke"
    assert payload["machine"]["cores"] >= 1 and "SecantusDB" in payload["machine"]["database"]
    assert payload["rows"]
    return payload


def test_query_bench_compares_every_filter_with_the_driver() -> None:
    payload = run_bench("query")
    cases = {row["case"]: row for row in payload["rows"]}
    for name in ("none", "owner", "statusDetailed", "riskTier", "expiresBefore"):
        row = cases[f"policies(first: 50) {name}"]
        assert row["graphql_p50_ms"] > 0 and row["raw_p50_ms"] > 0 and row["ratio_p50"] > 0
    for name in (
        "policies(first: 50) statusIn open",
        "policies(first: 50) EXPIRATION_HEIGHT_ASC owner",
        "policies(first: 50) PREMIUM_DESC statusIn open",
        "policies(last: 50) PREMIUM_DESC",
        "me.policies(first: 50) CREATED_AT_DESC",
        "stats",
    ):
        row = cases[name]
        assert row["graphql_p50_ms"] > 0 and row["raw_p50_ms"] > 0 and row["ratio_p50"] > 0 and row["index"]
    assert cases["policy(id)"]["n"] >= 3
    for name in ("policy(id) plain HTTP client", "{ __typename } plain HTTP client", "policy(id) in-process ASGI call"):
        assert cases[name]["graphql_p50_ms"] > 0 and cases[name]["raw_p50_ms"] > 0
    assert cases["totalCount none"]["count"] > cases["totalCount statusDetailed"]["count"] > 0
    assert "SORT" in payload["explain_status_page"]["stages"] or "IXSCAN" in payload["explain_status_page"]["stages"]


def test_fanout_bench_delivers_every_change_to_every_subscriber_of_both_servers() -> None:
    payload = run_bench("fanout")
    rows = {row["server"]: row for row in payload["rows"]}
    assert set(rows) == {"project", "node"}  # the Node reference server runs in the same bench
    for row in rows.values():
        assert row["subscribers"] == 20 and row["missing"] == 0 and row["out_of_order"] == 0
        assert row["receipts"] == row["subscribers"] * row["changes"]
        assert 0 < row["p50_ms"] <= row["p99_ms"] and row["baseline_watch_p50_ms"] > 0
        assert row["rss_after_mib"] > 0 and row["cpu_ms_per_change"] >= 0
    assert "gc_gen0_1_2" in rows["project"]  # the API's collections during the changes are reported
    (ratios,) = payload["vs_node"]
    assert ratios["subscribers"] == 20 and ratios["p50_vs_node"] > 0
    assert isinstance(ratios["kib_per_subscriber_vs_node"], int | float)  # RSS barely moves for 20 subscribers


def test_ingest_bench_applies_every_event_and_matches_the_raw_write() -> None:
    row = run_bench("ingest")["rows"][0]
    assert row["events"] >= 60 and row["apply_events_per_s"] > 0 and row["raw_events_per_s"] > 0
    assert row["documents_written_raw"] > row["policies"]


@pytest.mark.devnet
def test_e2e_bench_reaches_the_subscriber_after_the_block() -> None:
    row = run_bench("e2e")["rows"][0]
    assert row["policies"] == 2 and row["subscriber_p50_ms"] > 0 and row["db_visible_p50_ms"] > 0


def test_fragments_bench_refuses_the_blow_up_beside_its_baseline() -> None:
    rows = {row["case"].split()[0]: row for row in run_bench("fragments")["rows"]}
    assert rows["12"]["refused"] and not rows["baseline"]["refused"]
    assert rows["12"]["answer_p50_ms"] > 0 and rows["baseline"]["answer_p50_ms"] > 0
