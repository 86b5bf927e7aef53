"""The embedded default keeps the devnet's journal beside the database, so a restart is the same chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_registry.embedded.devnet import LocalDevnet
from policy_registry.embedded.stack import devnet_journal_path
from policy_registry.settings import Settings

pytestmark = pytest.mark.devnet


def test_the_journal_lives_beside_the_database_unless_that_is_in_memory(tmp_path: Path) -> None:
    on_disk = Settings(_env_file=None, embedded_db_path=tmp_path / "data" / "secantus")
    assert devnet_journal_path(on_disk) == tmp_path / "data" / "devnet-journal.jsonl"
    assert devnet_journal_path(Settings(_env_file=None, embedded_db_path=Path(":memory:"))) is None


def test_a_restarted_devnet_with_its_journal_is_the_same_chain(tmp_path: Path) -> None:
    journal = tmp_path / "devnet-journal.jsonl"
    with LocalDevnet(block_interval=0, state_file=journal, log_path=tmp_path / "a.log") as first:
        first.mine(blocks=2, burn_blocks=3)
        marker, tip = first.chain_marker, first.mine(blocks=1)["chain_tip"]
    assert journal.exists()
    with LocalDevnet(block_interval=0, state_file=journal, log_path=tmp_path / "b.log") as second:
        assert second.chain_marker == marker
        assert second.mine(blocks=0)["chain_tip"] == tip  # nothing new mined: the tip as it was
