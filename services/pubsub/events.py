"""What the change feed publishes besides policy records: the chain tip the listener writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class TipRecord:
    """`chain_state` document `_id: "tip"` (written by the chain listener on each poll)."""

    stacks_height: int
    burn_height: int
    block_hash: str | None
    updated_at: datetime | None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> TipRecord:
        return cls(
            stacks_height=int(doc["stacks_height"]),
            burn_height=int(doc["burn_height"]),
            block_hash=doc.get("block_hash"),
            updated_at=doc.get("updated_at"),
        )
