"""`chainStatus`: a read of the listener's published state (`chain_state`)."""

from __future__ import annotations

from resolvers.context import Info
from schema.chain_types import ChainStatus
from services.listener.status import read_chain_status


async def chain_status(info: Info) -> ChainStatus:
    return ChainStatus.from_record(await read_chain_status(info.context.services.store))
