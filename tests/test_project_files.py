"""The README documents every setting, and docker-compose only sets variables the service reads."""

from __future__ import annotations

import re
from pathlib import Path

from policy_registry.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "python3 dev.py up" in readme and "python3 dev.py test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec python3 dev\.py test$", ci, re.M)


def test_compose_sets_only_variables_the_service_reads() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    known = {name.upper() for name in Settings.model_fields}
    block = compose.split("environment:", 1)[1].split("ports:", 1)[0]
    names = re.findall(r"^\s+([A-Z_]+):", block, re.M)
    assert names and set(names) <= known, set(names) - known
    assert "--replSet" in compose and "rs.initiate" in compose
