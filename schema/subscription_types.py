"""Types only live updates return."""

from __future__ import annotations

from datetime import datetime

import strawberry

from services.pubsub.events import TipRecord


@strawberry.type(description="The chain tip the listener last saw (`chain_state` tip).")
class ChainTip:
    stacks_height: int
    burn_height: int = strawberry.field(description="Bitcoin (burn chain) height: expirations count in these.")
    block_hash: str | None
    updated_at: datetime | None

    @classmethod
    def from_record(cls, tip: TipRecord) -> ChainTip:
        return cls(
            stacks_height=tip.stacks_height,
            burn_height=tip.burn_height,
            block_hash=tip.block_hash,
            updated_at=tip.updated_at,
        )
