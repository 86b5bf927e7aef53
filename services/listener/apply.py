"""Applying confirmed events, in chain order (block height, tx index in the block, event index in the tx; both
contracts interleaved). A chunk of events applies in one transaction with the lease fence, its handlers' writes
(read once, applied in memory, written in bulk: :mod:`services.listener.chunk`), the events' outcomes and the
cursor (``chain_cursor.applied_through``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.errors import Conflict
from services.core.fencing import Fence
from services.listener.handlers import apply_events
from services.store.chain_events import ChainEventRepository
from services.store.chain_state import ChainStateRepository
from services.store.mongo import MongoStore

log = logging.getLogger(__name__)

APPLY_ATTEMPTS = 3


class Applier:
    def __init__(
        self,
        mongo: MongoStore,
        events: ChainEventRepository,
        state: ChainStateRepository,
        batch: int,
        chunk: int,
    ) -> None:
        self._mongo = mongo
        self._events = events
        self._state = state
        self._batch = batch
        self._chunk = max(1, chunk)

    async def apply_confirmed(
        self, fence: Fence, max_burn_height: int, max_block_height: int, count: Callable[[str | None], None]
    ) -> None:
        """Apply the pending events confirmed at these heights, a chunk per transaction; ``count`` hears each
        event's outcome."""
        cursor = await self._state.load_cursor()
        pending = self._events.confirmed_pending(
            cursor.get("applied_through"), max_burn_height, max_block_height, self._batch
        )
        async for batch in pending:
            for start in range(0, len(batch), self._chunk):
                keys = [e["_id"] for e in batch[start : start + self._chunk]]
                try:
                    outcomes = await self.apply_many(fence, keys)
                except Conflict:
                    # a concurrent writer (monitor, request) moved a policy: redo this chunk one event at a time
                    outcomes = [await self._apply_with_retries(fence, key) for key in keys]
                for outcome in outcomes:
                    count(outcome)

    async def _apply_with_retries(self, fence: Fence, key: str) -> str | None:
        for attempt in range(APPLY_ATTEMPTS):
            try:
                return (await self.apply_many(fence, [key]))[0]
            except Conflict as exc:
                if attempt == APPLY_ATTEMPTS - 1:
                    raise
                log.info("applying %s raced another writer (%s); retrying", key, exc)
        return None

    async def apply_many(self, fence: Fence, keys: list[str]) -> list[str | None]:
        """Apply stored events, in the order given (chain order), in one fenced transaction: their handlers'
        writes, their outcomes and the cursor commit together or not at all. The chunk is read with one query,
        applied in memory and written with a few bulk writes (:func:`services.listener.handlers.apply_events`)."""

        async def work(session: AsyncClientSession) -> list[str | None]:
            # First: the lease document is then locked by this transaction, so a takeover waits for its commit
            # (fencing last would conflict with every renewal made meanwhile and retry the chunk forever).
            await fence.fence(session)
            pending = await self._events.pending_by_keys(keys, session)
            events = [pending[key] for key in keys if key in pending]  # gone: applied by another run meanwhile
            results = await apply_events(self._mongo, events, session)
            applied_through = await self._events.record_outcomes(list(zip(events, results, strict=True)), session)
            if applied_through is not None:
                await self._state.set_cursor({"applied_through": applied_through}, session)
            by_key: dict[str, str | None] = {}
            for event, result in zip(events, results, strict=True):
                by_key[event["_id"]] = result.outcome
                if result.outcome == "invalid":
                    log.error("event %s (%s) not applied: %s", event["_id"], event.get("event"), result.reason)
            return [by_key.get(key) for key in keys]

        return await self._mongo.transaction(work)
