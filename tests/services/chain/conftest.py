from __future__ import annotations

from collections.abc import Iterator

import pytest

from .hiro_server import FakeHiro, run_fake_hiro


@pytest.fixture(scope="session")
def _hiro_server() -> Iterator[FakeHiro]:
    yield from run_fake_hiro()


@pytest.fixture
def hiro(_hiro_server: FakeHiro) -> FakeHiro:
    _hiro_server.reset()
    return _hiro_server
