"""Chain restarts: the chain marker (the devnet's ``devnet_chain_marker``, else network id + genesis chainstate hash
from ``/v2/info``) is kept with the cursor. A different marker is never mixed in: the listener halts until an
operator accepts the new chain, which orphans the old chain's events as a whole."""

from __future__ import annotations

import logging

from services.chain import NodeInfo
from services.core.fencing import Fence
from services.listener.publish import fenced
from services.listener.reorg import OrphanReport, Reorgs
from services.store.chain_events import ChainEventRepository
from services.store.chain_state import ChainStateRepository
from services.store.mongo import MongoStore

log = logging.getLogger(__name__)


class ChainRestarted(Exception):
    """The chain marker changed: the API now serves another chain than the one our data came from."""


def chain_marker(info: NodeInfo) -> str:
    raw = info.raw
    marker = raw.get("devnet_chain_marker")
    if isinstance(marker, str) and marker:
        return marker
    return f"{info.network_id}:{raw.get('genesis_chainstate_hash')}"


async def check_marker(
    mongo: MongoStore,
    fence: Fence,
    state: ChainStateRepository,
    events: ChainEventRepository,
    reorgs: Reorgs,
    marker: str,
    *,
    accept: bool,
) -> OrphanReport | None:
    """None if ``marker`` is the chain our data came from. Otherwise, with ``accept``, the old chain's events are
    orphaned and the new chain adopted (the report says what was orphaned); without it, ChainRestarted."""
    cursor = await state.load_cursor()
    known = cursor.get("chain_marker")
    if known is None:
        if await events.any():
            # events from before markers were recorded: adopt the marker they were ingested under
            known = await events.sample_marker() or marker
        else:
            known = marker
        adopted = known
        await fenced(mongo, fence, lambda s: state.set_cursor({"chain_marker": adopted}, s))
    if known == marker:
        return None
    if accept:
        result = await reorgs.orphan(fence, f"chain restarted ({known} → {marker})", not_chain_marker=marker)
        fields = {"chain_marker": marker, "synced_height": None, "previous_marker": known}
        await fenced(mongo, fence, lambda s: state.set_cursor(fields, s))
        log.warning("accepted the new chain %s; the old chain's %d event(s) were orphaned", marker, result.events)
        return result
    raise ChainRestarted(
        f"the Stacks API serves another chain (marker {marker}, ours {known}); not mixing: events are not "
        "applied until an operator runs `policy-registry worker --accept-chain-restart`"
    )
