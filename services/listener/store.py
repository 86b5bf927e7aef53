"""The listener's collections: raw events (`chain_events`), its checkpoint (`chain_cursor`) and the status it
publishes (`chain_state`).

`chain_events` documents (one per contract print, ``_id = "<tx_id>:<event_index>"``, unique on
``(tx_id, event_index)``)::

    {tx_id, event_index, contract_id, source: "registry"|"vault", topic, value_hex,
     event: name | None, payload: {kebab-case keys} | None, policy_id_onchain, quote_id, tier,
     block_height, block_hash, burn_block_height, tx_index, block_time,
     canonical: bool, applied: bool, outcome: "pending"|"applied"|"ignored"|"invalid"|"orphaned",
     reason, apply_count, tier_after, chain_marker, ingested_at, applied_at}

``outcome`` pending = waiting for confirmations; ignored = an event this service does not know; invalid = a
malformed payload or an inconsistent one (never applied); orphaned = was applied, then its block left the chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from services.core.clock import now_utc

Document = dict[str, Any]
Position = tuple[int, int, int]

CHAIN_ORDER = [("block_height", ASCENDING), ("tx_index", ASCENDING), ("event_index", ASCENDING)]
REVERSE_CHAIN_ORDER = [("block_height", DESCENDING), ("tx_index", DESCENDING), ("event_index", DESCENDING)]


LISTENER = "listener"  # the _id of the listener's documents in chain_cursor and chain_state


@dataclass(frozen=True)
class HandlerResult:
    """What applying an event decided: ``applied`` (state written, or already there), ``invalid`` (inconsistent
    with our records: nothing written) or ``ignored``; a vault event's tier totals after it."""

    outcome: str
    reason: str | None = None
    tier_after: Document | None = None


def event_key(tx_id: str, event_index: int) -> str:
    return f"{tx_id}:{event_index}"


def position_of(doc: Document) -> Position:
    return (int(doc["block_height"]), int(doc.get("tx_index") or 0), int(doc["event_index"]))


def position_doc(doc: Document) -> Document:
    return {
        "block_height": doc["block_height"],
        "tx_index": doc.get("tx_index") or 0,
        "event_index": doc["event_index"],
        "tx_id": doc["tx_id"],
        "block_hash": doc["block_hash"],
        "burn_block_height": doc["burn_block_height"],
    }


class ListenerStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.events = db.chain_events
        self.cursor = db.chain_cursor
        self.state = db.chain_state

    # cursor ---------------------------------------------------------------------------------------------
    async def load_cursor(self) -> Document:
        return await self.cursor.find_one({"_id": LISTENER}) or {"_id": LISTENER}

    async def set_cursor(self, fields: Document, session: AsyncClientSession | None = None) -> None:
        await self.cursor.update_one(
            {"_id": LISTENER}, {"$set": {**fields, "updated_at": now_utc()}}, upsert=True, session=session
        )

    async def recompute_applied_through(self, session: AsyncClientSession) -> Document | None:
        """The position of the newest event still applied (after a reorg pulled the cursor back)."""
        last = await self.events.find_one(
            {"canonical": True, "applied": True}, sort=REVERSE_CHAIN_ORDER, session=session
        )
        applied_through = position_doc(last) if last else None
        await self.set_cursor({"applied_through": applied_through}, session=session)
        return applied_through

    # events ---------------------------------------------------------------------------------------------
    async def confirmed_pending(
        self, max_burn_height: int, max_block_height: int, target: int
    ) -> AsyncIterator[list[Document]]:
        """Pending canonical events confirmed at these heights, in chain order, about ``target`` at a time.

        Every read is one range of block heights on `outcome_order` (equality on outcome, a single range on
        block_height): an index range scan on mongod and on SecantusDB, whose planner materialises all of a
        query's candidates before it sorts and limits them (a `limit` bounds nothing there, and a second range
        predicate sends it to a scan of every pending event). The window starts below the cursor (events that
        became final late, below it, come first) and adapts its width to the events it finds. Upper bounds are
        exclusive: SecantusDB 0.7's compound range scan drops the entries equal to an inclusive (`$lte`) bound on a
        field that is not the index's last.
        """
        cursor = await self.load_cursor()
        through = cursor.get("applied_through") or {}
        low, high = 0, int(through.get("block_height", -1)) + 1
        while low <= max_block_height:
            high = min(high, max_block_height)
            window = {"outcome": "pending", "block_height": {"$gte": low, "$lt": high + 1}}
            docs = await self.events.find(window).to_list(None)
            ready = [d for d in docs if d.get("canonical") and int(d["burn_block_height"]) <= max_burn_height]
            if ready:
                yield sorted(ready, key=position_of)
            span = high - low + 1
            span = max(1, min(2 * span, span * target // len(docs))) if docs else 2 * span
            low, high = high + 1, high + span

    async def pending_by_keys(self, keys: list[str], session: AsyncClientSession) -> dict[str, Document]:
        """The events among ``keys`` still pending and canonical (a point lookup per key: `_id` alone)."""
        docs = await self.events.find({"_id": {"$in": keys}}, session=session).to_list(None)
        return {d["_id"]: d for d in docs if d.get("outcome") == "pending" and d.get("canonical")}

    async def record_outcomes(self, results: list[tuple[Document, HandlerResult]], session: AsyncClientSession) -> None:
        """The events' outcomes in one bulk write, and the cursor moved to the last one applied: in the chunk's
        transaction, so state and checkpoint commit together."""
        if not results:
            return
        now = now_utc()
        writes = []
        applied_through: Document | None = None
        for event, result in results:
            fields: Document = {
                "outcome": result.outcome,
                "applied": result.outcome == "applied",
                "reason": result.reason,
                "applied_at": now,
            }
            if result.tier_after is not None:
                fields["tier_after"] = result.tier_after
            update: Document = {"$set": fields}
            if result.outcome == "applied":
                update["$inc"] = {"apply_count": 1}
                applied_through = position_doc(event)
            writes.append(UpdateOne({"_id": event["_id"]}, update))
        await self.events.bulk_write(writes, ordered=True, session=session)
        if applied_through is not None:
            await self.set_cursor({"applied_through": applied_through}, session=session)

    async def tier_snapshot_before(self, tier: str, event: Document, session: AsyncClientSession) -> Document | None:
        """The `tier_after` of the tier's newest applied event before ``event``.

        One range on `tier_order` (tier and outcome fixed, block_height up to the event's, an exclusive bound: see
        `confirmed_pending`); the position inside the block is compared here. Newest first, so mongod stops after
        a document or two."""
        found = self.events.find(
            {"tier": tier, "outcome": "applied", "block_height": {"$lt": int(event["block_height"]) + 1}},
            sort=REVERSE_CHAIN_ORDER,
            session=session,
        )
        position = position_of(event)
        async for doc in found:
            if doc.get("canonical") and doc.get("tier_after") is not None and position_of(doc) < position:
                return dict(doc["tier_after"])
        return None

    async def count_pending(self) -> int:
        return await self.events.count_documents({"outcome": "pending", "canonical": True})

    async def recent_blocks(self, min_height: int) -> list[tuple[int, str]]:
        """Distinct (height, hash) of canonical events at or above ``min_height``, newest first."""
        docs = await self.events.find(
            {"canonical": True, "block_height": {"$gte": min_height}},
            projection={"block_height": 1, "block_hash": 1},
        ).to_list(length=None)
        blocks = {(int(d["block_height"]), str(d["block_hash"])) for d in docs}
        return sorted(blocks, reverse=True)

    # published status -----------------------------------------------------------------------------------
    async def publish(self, _id: str, fields: Document, session: AsyncClientSession | None = None) -> None:
        await self.state.update_one(
            {"_id": _id}, {"$set": {**fields, "updated_at": now_utc()}}, upsert=True, session=session
        )
