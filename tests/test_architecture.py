"""The structure of docs/architecture.md, checked: the import layers, the store as the only code that speaks to
collections, and the types and style of the whole tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "resolvers", "schema", "policy_registry")

# A database or collection handle, or an operation on one: what only services/store may hold or do.
RAW_ACCESS = re.compile(
    r"\b_?db\.[a-z_]+\.(find|insert|update|delete|replace|aggregate|count|bulk|watch)"
    r"|\b_?db\[|\._?db\b|\bAsyncDatabase\b|\bAsyncCollection\b|\.watch\("
)


def test_import_layers_hold() -> None:
    """`lint-imports` checks the contracts in pyproject.toml (layers, forbidden imports)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", done.stdout), done.stdout[-2000:]


def test_only_the_store_touches_collections() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.relative_to(ROOT).as_posix().startswith("services/store/")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RAW_ACCESS.search(line)
    ]
    assert offenders == []


def test_the_access_pattern_catches_what_it_must() -> None:
    """The grep above is only as good as its pattern: each form of raw access it must refuse."""
    for line in (
        "await db.policies.find_one({})",
        "self._db.chain_state.update_one(q, u)",
        "leases = self.db.leases",
        "coll = db['policies']",
        "async with await self.db.watch(pipeline) as stream:",
        "def __init__(self, db: AsyncDatabase[Document]) -> None:",
        "self._txs: AsyncCollection[Document]",
    ):
        assert RAW_ACCESS.search(line), line
    for line in (
        "await self._policies.get(policy_id)",
        "store.transaction(work)",
        "dbname = settings.mongodb_database",
    ):
        assert not RAW_ACCESS.search(line), line


def test_types_check() -> None:
    """mypy (strict, `[tool.mypy]` in pyproject.toml) over the packages, bench/, examples/ and tests/."""
    mypy = Path(sys.executable).with_name("mypy")
    done = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_lint_and_format_hold() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    for command in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([str(ruff), *command], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
