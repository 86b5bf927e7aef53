"""The committed SDL is what the code builds: a stale `schema/schema.graphql` fails here."""

from __future__ import annotations

from policy_registry.graphql_schema import export_sdl
from schema import SDL_PATH


def test_committed_sdl_is_fresh() -> None:
    assert SDL_PATH.read_text(encoding="utf-8") == export_sdl(), "run `policy-registry export-schema`"
