"""Ingestion: both contracts' log rows into `chain_events`.

Contract logs come newest first. Each poll pages back from the newest row until it reaches rows below the height it
had fully synced (minus a small overlap), so a steady-state poll reads one page per contract. A row never seen before
costs one ``get_transaction`` (block height, hash, burn height, tx index, canonical, block time; cached per poll);
known canonical rows cost nothing. Rows are stored idempotently on ``(tx_id, event_index)``, one transaction per page
(fenced by the lease).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.chain import ChainNotFound, ContractLogEvent, CursorNotFound, StacksApiClient, TransactionInfo
from services.core.clock import now_utc
from services.core.fencing import Fence
from services.listener.chunk import quote_id_of
from services.listener.events import InvalidEvent, Source, decode_event
from services.store.chain_events import ChainEventRepository, event_key
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)

PREFETCH_CONCURRENCY = 8

Transactions = dict[str, TransactionInfo | None]  # per poll: txid → its transaction, None if not usable yet


def _block_time(tx: TransactionInfo) -> datetime | None:
    value = tx.raw.get("block_time") or tx.raw.get("burn_block_time")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def _tx_index(tx: TransactionInfo) -> int:
    value = tx.raw.get("tx_index")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def event_doc(
    row: ContractLogEvent, source: Source, tx: TransactionInfo, marker: str, *, reincarnated: bool
) -> Document:
    """The `chain_events` document of one log row, decoded (or marked invalid / ignored)."""
    doc: Document = {
        "_id": event_key(row.tx_id, row.event_index),
        "tx_id": row.tx_id,
        "event_index": row.event_index,
        "contract_id": row.contract_id,
        "source": source,
        "topic": row.topic,
        "value_hex": row.value_hex,
        "block_height": tx.block_height,
        "block_hash": tx.block_hash,
        "burn_block_height": tx.burn_block_height,
        "tx_index": _tx_index(tx),
        "block_time": _block_time(tx),
        "canonical": True,
        "applied": False,
        "apply_count": 0,
        "tier_after": None,
        "chain_marker": marker,
        "ingested_at": now_utc(),
        "event": None,
        "payload": None,
        "policy_id_onchain": None,
        "quote_id": None,
        "tier": None,
        "reason": None,
        "outcome": "pending",
    }
    if reincarnated:
        doc["reincarnated_at"] = now_utc()
    try:
        decoded = decode_event(row.value_hex, source)
    except InvalidEvent as exc:
        doc.update(outcome="invalid", reason=str(exc))
        log.warning("event %s is invalid and will not be applied: %s", doc["_id"], exc)
        return doc
    doc["payload"] = decoded.payload
    doc["event"] = decoded.name
    if decoded.name is None:
        doc.update(outcome="ignored", reason="not an event this service knows")
        log.info("event %s of %s is not one this service knows; stored, not applied", doc["_id"], source)
        return doc
    payload = decoded.payload or {}
    if "policy-id" in payload:
        doc["policy_id_onchain"] = payload["policy-id"]
    if decoded.name == "policy-created":
        doc["quote_id"] = quote_id_of(payload)
    if "tier" in payload:
        doc["tier"] = payload["tier"]
    return doc


class Ingestion:
    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        events: ChainEventRepository,
        sources: dict[str, Source],
        page_size: int,
    ) -> None:
        self._mongo = mongo
        self._client = client
        self._events = events
        self._sources = sources
        self._page_size = page_size

    async def contract(self, fence: Fence, contract_id: str, floor: int, marker: str, txs: Transactions) -> int:
        """Store the contract's new rows down to ``floor``; the number written."""
        source = self._sources[contract_id]
        stored = 0
        for attempt in range(2):
            cursor: str | None = None
            try:
                while True:
                    page = await self._client.get_contract_logs(contract_id, limit=self._page_size, cursor=cursor)
                    new_docs, lowest = await self._prepare_rows(page.events, source, marker, txs)
                    if new_docs:
                        stored += await self._store_rows(fence, new_docs)
                    if page.next_cursor is None or (lowest is not None and lowest < floor):
                        return stored
                    cursor = page.next_cursor
            except CursorNotFound:
                if attempt:
                    raise
                log.info("contract-logs cursor of %s vanished (a reorg under our feet); rescanning", contract_id)
        return stored

    async def _prepare_rows(
        self, rows: tuple[ContractLogEvent, ...], source: Source, marker: str, txs: Transactions
    ) -> tuple[list[Document], int | None]:
        """The documents to write for this page's new (or re-mined) rows, and the lowest height on the page."""
        docs: dict[str, Document] = {}
        lowest: int | None = None
        known = await self._events.ingested([event_key(r.tx_id, r.event_index) for r in rows])
        missing = {r.tx_id for r in rows if not (known.get(event_key(r.tx_id, r.event_index)) or {}).get("canonical")}
        await self._prefetch(sorted(missing - set(txs)), txs)
        for row in rows:
            key = event_key(row.tx_id, row.event_index)
            existing = known.get(key)
            if existing is not None and existing.get("canonical"):
                height = int(existing["block_height"])
                lowest = height if lowest is None else min(lowest, height)
                continue
            tx = await self._transaction(row.tx_id, txs)
            if tx is None or tx.block_height is None or tx.block_hash is None or tx.burn_block_height is None:
                continue  # not final yet (or unknown to the API for now): the next poll sees it again
            lowest = tx.block_height if lowest is None else min(lowest, tx.block_height)
            if key not in docs:
                docs[key] = event_doc(row, source, tx, marker, reincarnated=existing is not None)
        return list(docs.values()), lowest

    async def _prefetch(self, txids: list[str], txs: Transactions) -> None:
        """Fetch a page's unknown transactions a few at a time (a first sync reads thousands)."""
        limit = asyncio.Semaphore(PREFETCH_CONCURRENCY)

        async def one(txid: str) -> None:
            async with limit:
                await self._transaction(txid, txs)

        await asyncio.gather(*(one(t) for t in txids))

    async def _transaction(self, txid: str, txs: Transactions) -> TransactionInfo | None:
        if txid not in txs:
            try:
                tx = await self._client.get_transaction(txid)
            except ChainNotFound:
                txs[txid] = None
                return None
            if tx.tx_status != "success" or tx.canonical is False:
                log.info(
                    "log row of tx %s skipped for now: tx_status %s, canonical %s", txid, tx.tx_status, tx.canonical
                )
                txs[txid] = None
            else:
                txs[txid] = tx
        return txs[txid]

    async def _store_rows(self, fence: Fence, docs: list[Document]) -> int:
        async def work(session: AsyncClientSession) -> int:
            await fence.fence(session)
            return await self._events.store_ingested(docs, session)

        try:
            return await self._mongo.transaction(work)
        except DuplicateKeyError:
            return 0  # another writer stored them first; the rows are identical
