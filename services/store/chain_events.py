"""Repository of `chain_events`: the raw contract events the chain listener ingests and applies.

One document per contract print, ``_id = "<tx_id>:<event_index>"``, unique on ``(tx_id, event_index)``::

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

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from services.core.clock import now_utc
from services.store.mongo import Document, MongoStore
from services.store.names import Collection

ChainPosition = tuple[int, int, int]  # block height, tx index, event index

CHAIN_ORDER = [("block_height", ASCENDING), ("tx_index", ASCENDING), ("event_index", ASCENDING)]
REVERSE_CHAIN_ORDER = [("block_height", DESCENDING), ("tx_index", DESCENDING), ("event_index", DESCENDING)]


@dataclass(frozen=True)
class HandlerResult:
    """What applying an event decided: ``applied`` (state written, or already there), ``invalid`` (inconsistent
    with our records: nothing written) or ``ignored``; a vault event's tier totals after it."""

    outcome: str
    reason: str | None = None
    tier_after: Document | None = None


def event_key(tx_id: str, event_index: int) -> str:
    return f"{tx_id}:{event_index}"


def position_of(doc: Document) -> ChainPosition:
    return (int(doc["block_height"]), int(doc.get("tx_index") or 0), int(doc["event_index"]))


def position_doc(doc: Document) -> Document:
    """An event's place in the chain, as the cursor and the tier mirror store it."""
    return {
        "block_height": doc["block_height"],
        "tx_index": doc.get("tx_index") or 0,
        "event_index": doc["event_index"],
        "tx_id": doc["tx_id"],
        "block_hash": doc["block_hash"],
        "burn_block_height": doc["burn_block_height"],
    }


class ChainEventRepository:
    def __init__(self, store: MongoStore) -> None:
        self._events = store.db[Collection.CHAIN_EVENTS]

    # ingestion --------------------------------------------------------------------------------------------
    async def any(self) -> bool:
        return bool(await self._events.count_documents({}, limit=1))

    async def sample_marker(self) -> str | None:
        """The chain marker some stored event was ingested under (None if none carries one)."""
        sample = await self._events.find_one({"chain_marker": {"$ne": None}})
        return sample.get("chain_marker") if sample else None

    async def ingested(self, keys: list[str]) -> dict[str, Document]:
        """The stored events among ``keys``: their canonical flag and block height."""
        found = self._events.find({"_id": {"$in": keys}}, projection={"canonical": 1, "block_height": 1})
        return {d["_id"]: d for d in await found.to_list(None)}

    async def store_ingested(self, docs: list[Document], session: AsyncClientSession) -> int:
        """Insert new events; overwrite the ones stored non-canonical (re-mined after an orphaning: same key, new
        block; they apply again in chain order). The number written."""
        written = 0
        for doc in docs:
            existing = await self._events.find_one({"_id": doc["_id"]}, session=session)
            if existing is None:
                await self._events.insert_one(doc, session=session)
                written += 1
            elif not existing.get("canonical"):
                fields = {k: v for k, v in doc.items() if k not in ("_id", "apply_count")}
                await self._events.update_one({"_id": doc["_id"]}, {"$set": fields}, session=session)
                written += 1
        return written

    # application ------------------------------------------------------------------------------------------
    async def confirmed_pending(
        self, applied_through: Document | None, max_burn_height: int, max_block_height: int, target: int
    ) -> AsyncIterator[list[Document]]:
        """Pending canonical events confirmed at these heights, in chain order, about ``target`` at a time.

        Every read is one range of block heights on `outcome_order` (equality on outcome, a single range on
        block_height): an index range scan on mongod and on SecantusDB, whose planner materialises all of a
        query's candidates before it sorts and limits them (a `limit` bounds nothing there, and a second range
        predicate sends it to a scan of every pending event). The window starts below the cursor
        (``applied_through``: events that became final late, below it, come first) and adapts its width to the
        events it finds. Upper bounds are exclusive: SecantusDB 0.7's compound range scan drops the entries equal
        to an inclusive (`$lte`) bound on a field that is not the index's last.
        """
        through = applied_through or {}
        low, high = 0, int(through.get("block_height", -1)) + 1
        while low <= max_block_height:
            high = min(high, max_block_height)
            window = {"outcome": "pending", "block_height": {"$gte": low, "$lt": high + 1}}
            docs = await self._events.find(window).to_list(None)
            ready = [d for d in docs if d.get("canonical") and int(d["burn_block_height"]) <= max_burn_height]
            if ready:
                yield sorted(ready, key=position_of)
            span = high - low + 1
            span = max(1, min(2 * span, span * target // len(docs))) if docs else 2 * span
            low, high = high + 1, high + span

    async def pending_by_keys(self, keys: list[str], session: AsyncClientSession) -> dict[str, Document]:
        """The events among ``keys`` still pending and canonical (a point lookup per key: `_id` alone)."""
        docs = await self._events.find({"_id": {"$in": keys}}, session=session).to_list(None)
        return {d["_id"]: d for d in docs if d.get("outcome") == "pending" and d.get("canonical")}

    async def record_outcomes(
        self, results: list[tuple[Document, HandlerResult]], session: AsyncClientSession
    ) -> Document | None:
        """The events' outcomes in one bulk write; the position of the last one applied (for the cursor, which
        the caller moves in the same transaction, so state and checkpoint commit together)."""
        if not results:
            return None
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
        await self._events.bulk_write(writes, ordered=True, session=session)
        return applied_through

    async def tier_snapshot_before(self, tier: str, event: Document, session: AsyncClientSession) -> Document | None:
        """The `tier_after` of the tier's newest applied event before ``event``.

        One range on `tier_order` (tier and outcome fixed, block_height up to the event's, an exclusive bound: see
        `confirmed_pending`); the position inside the block is compared here. Newest first, so mongod stops after
        a document or two."""
        found = self._events.find(
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
        return await self._events.count_documents({"outcome": "pending", "canonical": True})

    async def has_unapplied(self, policy_id_onchain: int, session: AsyncClientSession) -> bool:
        """Whether a canonical event of this on-chain policy waits to be applied."""
        found = await self._events.find_one(
            {"policy_id_onchain": policy_id_onchain, "outcome": "pending", "canonical": True},
            projection={"_id": 1},
            session=session,
        )
        return found is not None

    # reorgs -----------------------------------------------------------------------------------------------
    async def recent_blocks(self, min_height: int) -> list[tuple[int, str]]:
        """Distinct (height, hash) of canonical events at or above ``min_height``, newest first."""
        docs = await self._events.find(
            {"canonical": True, "block_height": {"$gte": min_height}},
            projection={"block_height": 1, "block_hash": 1},
        ).to_list(length=None)
        blocks = {(int(d["block_height"]), str(d["block_hash"])) for d in docs}
        return sorted(blocks, reverse=True)

    async def canonical_events(
        self,
        session: AsyncClientSession,
        *,
        block_hashes: list[str] | None = None,
        not_chain_marker: str | None = None,
    ) -> list[Document]:
        """The canonical events of these blocks, or of every chain but the one ``not_chain_marker`` names."""
        query: Document = {"canonical": True}
        if block_hashes is not None:
            query["block_hash"] = {"$in": block_hashes}
        if not_chain_marker is not None:
            query["chain_marker"] = {"$ne": not_chain_marker}
        return await self._events.find(query, session=session).to_list(length=None)

    async def mark_orphaned(self, keys: list[str], session: AsyncClientSession) -> None:
        """These events' blocks left the chain: none is canonical any more, and the applied ones are orphaned."""
        await self._events.update_many(
            {"_id": {"$in": keys}, "applied": True},
            {"$set": {"canonical": False, "applied": False, "outcome": "orphaned", "orphaned_at": now_utc()}},
            session=session,
        )
        await self._events.update_many(
            {"_id": {"$in": keys}}, {"$set": {"canonical": False, "orphaned_at": now_utc()}}, session=session
        )

    async def newest_applied(self, session: AsyncClientSession) -> Document | None:
        """The position of the newest event still applied (after a reorg pulled the cursor back)."""
        last = await self._events.find_one(
            {"canonical": True, "applied": True}, sort=REVERSE_CHAIN_ORDER, session=session
        )
        return position_doc(last) if last else None

    async def applied_creation(self, quote_id: str, session: AsyncClientSession) -> Document | None:
        """The canonical, applied `policy-created` of this quote."""
        return await self._events.find_one(
            {"event": "policy-created", "quote_id": quote_id, "canonical": True, "applied": True}, session=session
        )

    async def applied_closing(self, policy_id_onchain: int, session: AsyncClientSession) -> Document | None:
        """The canonical, applied `policy-status-updated` of this on-chain policy."""
        return await self._events.find_one(
            {
                "event": "policy-status-updated",
                "policy_id_onchain": policy_id_onchain,
                "canonical": True,
                "applied": True,
            },
            session=session,
        )

    async def last_tier_event(self, tier: str, session: AsyncClientSession) -> Document | None:
        """The tier's newest canonical, applied vault event that carries a snapshot."""
        return await self._events.find_one(
            {"tier": tier, "canonical": True, "applied": True, "tier_after": {"$ne": None}},
            sort=REVERSE_CHAIN_ORDER,
            session=session,
        )
