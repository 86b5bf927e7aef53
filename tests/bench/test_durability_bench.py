"""bench/durability.py in its smoke mode: the embedded server as launched (``--sync-on-commit``) keeps every
acknowledged commit across a SIGKILL; both modes report their commit and creation rates."""

from __future__ import annotations

from tests.bench.test_bench_smoke import run_bench


def test_durability_bench_finds_no_acknowledged_commit_missing_with_sync_on_commit() -> None:
    payload = run_bench("durability")
    rows = payload["rows"]
    assert {row["mode"] for row in rows} == {"sync-on-commit", "no-sync"}
    durable = [row for row in rows if row["mode"] == "sync-on-commit"]
    assert all(row["acknowledged"] > 0 and row["missing"] == 0 for row in durable), durable
    assert all(row["creations_per_s"] > 0 for row in rows)
