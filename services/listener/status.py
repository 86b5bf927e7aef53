"""What `chainStatus` shows: the tip, the listener's cursor and lag, its last error, reconciliation counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.store.chain_state import ChainStateRepository
from services.store.mongo import MongoStore


@dataclass(frozen=True)
class ChainStatusRecord:
    stacks_height: int | None
    burn_height: int | None
    tip_hash: str | None
    chain_marker: str | None
    cursor_height: int | None  # block of the last applied event
    cursor_burn_height: int | None
    cursor_tx_id: str | None
    synced_height: int | None  # every log up to this Stacks height is ingested
    lag_blocks: int | None  # tip height − synced height at the last poll
    pending_events: int  # ingested, canonical, waiting for confirmations
    confirmations: int | None
    halted: bool
    last_error: str | None
    last_error_at: datetime | None
    last_poll_at: datetime | None
    events_applied: int
    events_orphaned: int
    reconciliation_repairs: int
    reconciliation_last_run_at: datetime | None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


async def read_chain_status(store: MongoStore) -> ChainStatusRecord:
    docs = await ChainStateRepository(store).status_documents()
    tip, listener, reconciliation = docs.tip, docs.listener, docs.reconciliation
    applied = listener.get("applied_through") or {}
    return ChainStatusRecord(
        stacks_height=_int(tip.get("stacks_height")),
        burn_height=_int(tip.get("burn_height")),
        tip_hash=tip.get("block_hash"),
        chain_marker=listener.get("chain_marker") or tip.get("chain_marker"),
        cursor_height=_int(applied.get("block_height")),
        cursor_burn_height=_int(applied.get("burn_block_height")),
        cursor_tx_id=applied.get("tx_id"),
        synced_height=_int(listener.get("synced_height")),
        lag_blocks=_int(listener.get("lag_blocks")),
        pending_events=_int(listener.get("pending_events")) or 0,
        confirmations=_int(listener.get("confirmations")),
        halted=bool(listener.get("halted", False)),
        last_error=listener.get("last_error"),
        last_error_at=listener.get("last_error_at") if listener.get("last_error") else None,
        last_poll_at=listener.get("last_poll_at"),
        events_applied=_int(listener.get("applied_total")) or 0,
        events_orphaned=_int(listener.get("orphaned_total")) or 0,
        reconciliation_repairs=_int(reconciliation.get("repairs_total")) or 0,
        reconciliation_last_run_at=reconciliation.get("last_run_at"),
    )
