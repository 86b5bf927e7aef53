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

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
Position = tuple[int, int, int]

CHAIN_ORDER = [("block_height", ASCENDING), ("tx_index", ASCENDING), ("event_index", ASCENDING)]
REVERSE_CHAIN_ORDER = [("block_height", DESCENDING), ("tx_index", DESCENDING), ("event_index", DESCENDING)]


LISTENER = "listener"  # the _id of the listener's documents in chain_cursor and chain_state


def now_utc() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


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
    async def confirmed_pending(self, max_burn_height: int, max_block_height: int, limit: int) -> list[Document]:
        cursor = (
            self.events.find(
                {
                    "outcome": "pending",
                    "canonical": True,
                    "burn_block_height": {"$lte": max_burn_height},
                    "block_height": {"$lte": max_block_height},
                }
            )
            .sort(CHAIN_ORDER)
            .limit(limit)
        )
        return await cursor.to_list(length=limit)

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
    async def publish(self, _id: str, fields: Document) -> None:
        await self.state.update_one({"_id": _id}, {"$set": {**fields, "updated_at": now_utc()}}, upsert=True)
