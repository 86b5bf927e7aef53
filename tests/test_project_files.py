"""The README documents every setting and gives the two commands (docker-compose: tests/test_compose.py)."""

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
