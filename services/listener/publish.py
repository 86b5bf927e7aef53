"""What the listener publishes after each poll: the chain tip, and its own status and totals (`chainStatus`, the
metrics endpoint). Writes outside the apply path go through `fenced`: their own transaction behind the lease."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from services.chain import StacksTip
from services.core.clock import now_utc
from services.core.fencing import Fence
from services.store.chain_events import ChainEventRepository
from services.store.chain_state import ChainStateRepository
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)


async def fenced(mongo: MongoStore, fence: Fence, write: Callable[[AsyncClientSession], Awaitable[object]]) -> None:
    """A write outside the apply path (cursor, tip, status), in its own transaction behind the lease fence."""

    async def work(session: AsyncClientSession) -> None:
        await fence.fence(session)
        await write(session)

    await mongo.transaction(work)


class Publisher:
    def __init__(
        self, mongo: MongoStore, state: ChainStateRepository, events: ChainEventRepository, confirmations: int
    ) -> None:
        self._mongo = mongo
        self._state = state
        self._events = events
        self._confirmations = confirmations

    async def tip(self, fence: Fence, tip: StacksTip, marker: str) -> None:
        fields = {
            "stacks_height": tip.block_height,
            "burn_height": tip.burn_block_height,
            "block_hash": tip.block_hash,
            "chain_marker": marker,
        }
        await fenced(self._mongo, fence, lambda s: self._state.publish_tip(fields, s))

    async def status(
        self,
        fence: Fence,
        *,
        halted: bool,
        error: str | None,
        stacks_height: int | None,
        applied: int,
        orphaned: int,
        invalid: int,
    ) -> None:
        """The listener's status after a poll, and the poll's counts added to its totals; a failure is logged."""
        try:
            cursor = await self._state.load_cursor()
            pending = await self._events.count_pending()
            synced = cursor.get("synced_height")
            fields: Document = {
                "applied_through": cursor.get("applied_through"),
                "synced_height": synced,
                "chain_marker": cursor.get("chain_marker"),
                "pending_events": pending,
                "halted": halted,
                "last_error": error,
                "last_poll_at": now_utc(),
                "confirmations": self._confirmations,
            }
            if stacks_height is not None and synced is not None:
                # A poll that failed before it saw the tip keeps the last known lag rather than erasing it.
                fields["lag_blocks"] = stacks_height - synced
            if error:
                fields["last_error_at"] = now_utc()
            totals = {
                "applied_total": applied,
                "orphaned_total": orphaned,
                "errors_total": 1 if error else 0,
                "invalid_total": invalid,
            }
            await fenced(self._mongo, fence, lambda s: self._state.publish_listener(fields, totals, s))
        except PyMongoError as exc:
            log.warning("could not publish the listener status: %s", exc)
