"""The committed SDL is what the code builds: a stale `schema/schema.graphql` fails here."""

from __future__ import annotations

from schema import SDL_PATH, export_sdl


def test_committed_sdl_is_fresh() -> None:
    assert SDL_PATH.read_text(encoding="utf-8") == export_sdl(), "run `policy-registry export-schema`"
