"""`chainStatus`: where the chain is, how far the listener has applied it, and what went wrong last."""

from __future__ import annotations

from datetime import datetime

import strawberry

from services.listener.status import ChainStatusRecord


@strawberry.type(description="The chain tip and the listener's position (DESIGN §7 chain listener).")
class ChainStatus:
    stacks_height: int | None = strawberry.field(description="Stacks tip height at the listener's last poll.")
    burn_height: int | None = strawberry.field(description="Bitcoin (burn) tip height at the last poll.")
    tip_hash: str | None
    chain_marker: str | None = strawberry.field(
        description="Identity of the chain the data came from (devnet marker, else network id + genesis hash)."
    )
    cursor_height: int | None = strawberry.field(description="Stacks height of the last applied event.")
    cursor_burn_height: int | None
    cursor_tx_id: str | None
    synced_height: int | None = strawberry.field(description="Every contract log up to this height is ingested.")
    lag_blocks: int | None = strawberry.field(description="Tip height minus synced height at the last poll.")
    pending_events: int = strawberry.field(description="Ingested events waiting for their confirmations.")
    confirmations: int | None = strawberry.field(description="Burn blocks an event needs before it applies.")
    halted: bool = strawberry.field(description="True when the API serves another chain: nothing is applied.")
    last_error: str | None = strawberry.field(description="The last poll's error; null when it succeeded.")
    last_error_at: datetime | None
    last_poll_at: datetime | None
    events_applied: int
    events_orphaned: int
    reconciliation_repairs: int = strawberry.field(description="Drift repairs made by reconciliation so far.")
    reconciliation_last_run_at: datetime | None

    @classmethod
    def from_record(cls, r: ChainStatusRecord) -> ChainStatus:
        return cls(
            stacks_height=r.stacks_height,
            burn_height=r.burn_height,
            tip_hash=r.tip_hash,
            chain_marker=r.chain_marker,
            cursor_height=r.cursor_height,
            cursor_burn_height=r.cursor_burn_height,
            cursor_tx_id=r.cursor_tx_id,
            synced_height=r.synced_height,
            lag_blocks=r.lag_blocks,
            pending_events=r.pending_events,
            confirmations=r.confirmations,
            halted=r.halted,
            last_error=r.last_error,
            last_error_at=r.last_error_at,
            last_poll_at=r.last_poll_at,
            events_applied=r.events_applied,
            events_orphaned=r.events_orphaned,
            reconciliation_repairs=r.reconciliation_repairs,
            reconciliation_last_run_at=r.reconciliation_last_run_at,
        )
