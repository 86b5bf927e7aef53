"""Typed access to documents that tests read straight from the database."""

from __future__ import annotations

from typing import Any


def found(doc: dict[str, Any] | None) -> dict[str, Any]:
    """`doc`, which the test expects to exist: `found(await db.things.find_one(...))["field"]`."""
    assert doc is not None, "no such document"
    return doc
