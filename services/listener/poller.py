"""The chain listener's poll: chain marker → tip → ingest both contracts' logs → reorg check → apply.

- **Ingest.** Contract logs come newest first. Each poll pages back from the newest row until it reaches rows
  below the height it had fully synced (minus a small overlap), so a steady-state poll reads one page per
  contract. A row never seen before costs one ``get_transaction`` (block height, hash, burn height, tx index,
  canonical, block time; cached per poll); known canonical rows cost nothing. Rows are stored in
  `chain_events`, idempotently on ``(tx_id, event_index)``, one transaction per page (fenced by the lease).
- **Confirmations.** An event applies once ``burn tip − its burn height ≥ CHAIN_CONFIRMATIONS`` and its block
  is at or below the Stacks tip read at the start of the poll (both contracts have been ingested up to there).
- **Order.** Events apply in chain order: block height, tx index in the block, event index in the tx; both
  contracts interleaved. A chunk of events applies in one transaction with the lease fence, its handlers' writes
  (read once, applied in memory, written in bulk: :mod:`services.listener.chunk`), the events' outcomes and the
  cursor (``chain_cursor.applied_through``).
- **Reorgs.** Blocks holding our events within ``reorg_window`` Stacks blocks of the tip are re-checked every
  poll; see :mod:`services.listener.reorg`.
- **Chain restarts.** The chain marker (the devnet's ``devnet_chain_marker``, else network id + genesis
  chainstate hash from ``/v2/info``) is kept with the cursor. A different marker is never mixed in: the listener
  halts (logs an error each poll, publishes it as ``last_error``) until an operator accepts the new chain
  (``policy-registry worker --accept-chain-restart``, or ``CHAIN_RESTART_POLICY=orphan``), which treats the old
  chain as orphaned as a whole and re-derives everything from the new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.chain import (
    ChainError,
    ChainNotFound,
    ContractLogEvent,
    CursorNotFound,
    NodeInfo,
    StacksApiClient,
    StacksTip,
    TransactionInfo,
)
from services.core.clock import now_utc
from services.core.errors import Conflict
from services.core.fencing import Fence, LeaseLost
from services.listener.events import InvalidEvent, Source, decode_event
from services.listener.handlers import apply_events, quote_id_of
from services.listener.reorg import OrphanReport, orphan_events, orphaned_blocks
from services.listener.store import LISTENER, Document, ListenerStore, event_key
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)

INGEST_OVERLAP_BLOCKS = 2  # re-read a little below the synced height: cheap insurance against indexing lag
APPLY_ATTEMPTS = 3
PREFETCH_CONCURRENCY = 8


class ChainRestarted(Exception):
    """The chain marker changed: the API now serves another chain than the one our data came from."""


@dataclass(frozen=True)
class ListenerConfig:
    registry_contract_id: str
    vault_contract_id: str
    confirmations: int = 1
    reorg_window: int = 64  # Stacks blocks below the tip whose canonical status is re-checked each poll
    page_size: int = 50
    apply_batch: int = 200  # events aimed at per read (a window of block heights)
    apply_chunk: int = 100  # events applied per transaction (read, applied in memory, written in bulk)
    restart_policy: Literal["halt", "orphan"] = "halt"


@dataclass
class PollReport:
    ingested: int = 0
    applied: int = 0
    invalid: int = 0
    orphaned: int = 0
    stacks_height: int | None = None
    burn_height: int | None = None
    halted: bool = False
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def chain_marker(info: NodeInfo) -> str:
    raw = info.raw
    marker = raw.get("devnet_chain_marker")
    if isinstance(marker, str) and marker:
        return marker
    return f"{info.network_id}:{raw.get('genesis_chainstate_hash')}"


def _block_time(tx: TransactionInfo) -> datetime | None:
    value = tx.raw.get("block_time") or tx.raw.get("burn_block_time")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def _tx_index(tx: TransactionInfo) -> int:
    value = tx.raw.get("tx_index")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class ChainListener:
    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        config: ListenerConfig,
        fence: Fence,
        policies: PolicyRepository | None = None,
    ) -> None:
        self.mongo = mongo
        self.client = client
        self.config = config
        self.fence = fence
        self.store = ListenerStore(mongo.db)
        self.policies = policies or PolicyRepository(mongo)
        self.sources: dict[str, Source] = {
            config.registry_contract_id: "registry",
            config.vault_contract_id: "vault",
        }
        self.accept_restart_once = False
        self.metrics: dict[str, int] = {"polls": 0, "applied": 0, "invalid": 0, "orphaned": 0, "errors": 0}

    name = "chain-listener"

    async def run_once(self, fence: Fence) -> PollReport:
        """One poll under ``fence`` (the job runner passes the listener's lease)."""
        self.fence = fence
        return await self.poll_once()

    # one poll ---------------------------------------------------------------------------------------------

    async def poll_once(self) -> PollReport:
        """Never raises for chain or data trouble (it is logged and published); LeaseLost propagates."""
        report = PollReport()
        self.metrics["polls"] += 1
        try:
            await self._poll(report)
        except LeaseLost:
            raise
        except ChainRestarted as exc:
            report.halted = True
            report.error = str(exc)
            log.error("chain listener halted: %s", exc)
        except (ChainError, PyMongoError, Conflict) as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            log.warning("chain listener poll failed: %s", report.error)
        if report.error:
            self.metrics["errors"] += 1
        await self._publish(report)
        return report

    async def _poll(self, report: PollReport) -> None:
        info = await self.client.get_node_info()
        tip = await self.client.get_tip()
        report.stacks_height, report.burn_height = tip.block_height, tip.burn_block_height
        marker = chain_marker(info)
        await self._publish_tip(tip, marker)
        await self._check_marker(marker, report)
        cursor = await self.store.load_cursor()
        synced = cursor.get("synced_height")
        floor = 0 if synced is None else max(0, int(synced) - INGEST_OVERLAP_BLOCKS)
        txs: dict[str, TransactionInfo | None] = {}
        for contract_id in self.sources:
            report.ingested += await self._ingest_contract(contract_id, floor, marker, txs)
        await self._fenced(
            lambda s: self.store.set_cursor({"synced_height": tip.block_height, "chain_marker": marker}, s)
        )
        orphaned = await self._check_reorgs(tip)
        report.orphaned += orphaned.events
        if orphaned.events:
            report.details["reorg"] = {"blocks": orphaned.blocks, "policies": orphaned.policies}
        await self._apply_confirmed(tip, report)

    # chain marker -----------------------------------------------------------------------------------------

    async def _check_marker(self, marker: str, report: PollReport) -> None:
        cursor = await self.store.load_cursor()
        known = cursor.get("chain_marker")
        if known is None:
            if await self.store.events.count_documents({}, limit=1):
                # events from before markers were recorded: adopt the marker they were ingested under
                sample = await self.store.events.find_one({"chain_marker": {"$ne": None}})
                known = sample.get("chain_marker") if sample else marker
            else:
                known = marker
            await self._fenced(lambda s: self.store.set_cursor({"chain_marker": known}, s))
        if known == marker:
            return
        if self.config.restart_policy == "orphan" or self.accept_restart_once:
            result = await orphan_events(
                self.mongo,
                self.store,
                self.policies,
                self.fence,
                {"chain_marker": {"$ne": marker}},
                f"chain restarted ({known} → {marker})",
            )
            fields = {"chain_marker": marker, "synced_height": None, "previous_marker": known}
            await self._fenced(lambda s: self.store.set_cursor(fields, s))
            self.accept_restart_once = False
            report.orphaned += result.events
            log.warning("accepted the new chain %s; the old chain's %d event(s) were orphaned", marker, result.events)
            return
        raise ChainRestarted(
            f"the Stacks API serves another chain (marker {marker}, ours {known}); not mixing: events are not "
            "applied until an operator runs `policy-registry worker --accept-chain-restart`"
        )

    # ingestion --------------------------------------------------------------------------------------------

    async def _ingest_contract(
        self, contract_id: str, floor: int, marker: str, txs: dict[str, TransactionInfo | None]
    ) -> int:
        source = self.sources[contract_id]
        stored = 0
        for attempt in range(2):
            cursor: str | None = None
            try:
                while True:
                    page = await self.client.get_contract_logs(contract_id, limit=self.config.page_size, cursor=cursor)
                    new_docs, lowest = await self._prepare_rows(page.events, source, marker, txs)
                    if new_docs:
                        stored += await self._store_rows(new_docs)
                    if page.next_cursor is None or (lowest is not None and lowest < floor):
                        return stored
                    cursor = page.next_cursor
            except CursorNotFound:
                if attempt:
                    raise
                log.info("contract-logs cursor of %s vanished (a reorg under our feet); rescanning", contract_id)
        return stored

    async def _prepare_rows(
        self,
        rows: tuple[ContractLogEvent, ...],
        source: Source,
        marker: str,
        txs: dict[str, TransactionInfo | None],
    ) -> tuple[list[Document], int | None]:
        """The documents to write for this page's new (or re-mined) rows, and the lowest height on the page."""
        docs: dict[str, Document] = {}
        lowest: int | None = None
        known = {
            d["_id"]: d
            for d in await self.store.events.find(
                {"_id": {"$in": [event_key(r.tx_id, r.event_index) for r in rows]}},
                projection={"canonical": 1, "block_height": 1},
            ).to_list(None)
        }
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
                docs[key] = self._event_doc(row, source, tx, marker, reincarnated=existing is not None)
        return list(docs.values()), lowest

    async def _prefetch(self, txids: list[str], txs: dict[str, TransactionInfo | None]) -> None:
        """Fetch a page's unknown transactions a few at a time (a first sync reads thousands)."""
        limit = asyncio.Semaphore(PREFETCH_CONCURRENCY)

        async def one(txid: str) -> None:
            async with limit:
                await self._transaction(txid, txs)

        await asyncio.gather(*(one(t) for t in txids))

    async def _transaction(self, txid: str, txs: dict[str, TransactionInfo | None]) -> TransactionInfo | None:
        if txid not in txs:
            try:
                tx = await self.client.get_transaction(txid)
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

    def _event_doc(
        self, row: ContractLogEvent, source: Source, tx: TransactionInfo, marker: str, *, reincarnated: bool
    ) -> Document:
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

    async def _store_rows(self, docs: list[Document]) -> int:
        async def work(session: AsyncClientSession) -> int:
            await self.fence.fence(session)
            written = 0
            for doc in docs:
                existing = await self.store.events.find_one({"_id": doc["_id"]}, session=session)
                if existing is None:
                    await self.store.events.insert_one(doc, session=session)
                    written += 1
                elif not existing.get("canonical"):
                    # re-mined after an orphaning: same key, new block; it applies again in chain order
                    fields = {k: v for k, v in doc.items() if k not in ("_id", "apply_count")}
                    await self.store.events.update_one({"_id": doc["_id"]}, {"$set": fields}, session=session)
                    written += 1
            return written

        try:
            return await self.mongo.transaction(work)
        except DuplicateKeyError:
            return 0  # another writer stored them first; the rows are identical

    # reorgs -----------------------------------------------------------------------------------------------

    async def _check_reorgs(self, tip: StacksTip) -> OrphanReport:
        blocks = await self.store.recent_blocks(max(0, tip.block_height - self.config.reorg_window))
        gone = await orphaned_blocks(self.client, blocks)
        if not gone:
            return OrphanReport()
        report = await orphan_events(
            self.mongo,
            self.store,
            self.policies,
            self.fence,
            {"block_hash": {"$in": [h for _, h in gone]}},
            f"reorg at height {min(h for h, _ in gone)}",
        )
        self.metrics["orphaned"] += report.events
        return report

    # application ------------------------------------------------------------------------------------------

    async def _apply_confirmed(self, tip: StacksTip, report: PollReport) -> None:
        max_burn = tip.burn_block_height - self.config.confirmations
        chunk = max(1, self.config.apply_chunk)
        async for batch in self.store.confirmed_pending(max_burn, tip.block_height, self.config.apply_batch):
            for start in range(0, len(batch), chunk):
                keys = [e["_id"] for e in batch[start : start + chunk]]
                try:
                    outcomes = await self.apply_many(keys)
                except Conflict:
                    # a concurrent writer (monitor, request) moved a policy: redo this chunk one event at a time
                    outcomes = [await self._apply_with_retries(key) for key in keys]
                for outcome in outcomes:
                    if outcome == "applied":
                        report.applied += 1
                        self.metrics["applied"] += 1
                    elif outcome == "invalid":
                        report.invalid += 1
                        self.metrics["invalid"] += 1

    async def _apply_with_retries(self, key: str) -> str | None:
        for attempt in range(APPLY_ATTEMPTS):
            try:
                return (await self.apply_many([key]))[0]
            except Conflict as exc:
                if attempt == APPLY_ATTEMPTS - 1:
                    raise
                log.info("applying %s raced another writer (%s); retrying", key, exc)
        return None

    async def apply_one(self, key: str) -> str | None:
        """Apply one stored event (if still pending and canonical) in one fenced transaction."""
        return (await self.apply_many([key]))[0]

    async def apply_many(self, keys: list[str]) -> list[str | None]:
        """Apply stored events, in the order given (chain order), in one fenced transaction: their handlers'
        writes, their outcomes and the cursor commit together or not at all. The chunk is read with one query,
        applied in memory and written with a few bulk writes (:func:`services.listener.handlers.apply_events`)."""

        async def work(session: AsyncClientSession) -> list[str | None]:
            # First: the lease document is then locked by this transaction, so a takeover waits for its commit
            # (fencing last would conflict with every renewal made meanwhile and retry the chunk forever).
            await self.fence.fence(session)
            pending = await self.store.pending_by_keys(keys, session)
            events = [pending[key] for key in keys if key in pending]  # gone: applied by another run meanwhile
            results = await apply_events(self.mongo, events, session)
            await self.store.record_outcomes(list(zip(events, results, strict=True)), session)
            by_key: dict[str, str | None] = {}
            for event, result in zip(events, results, strict=True):
                by_key[event["_id"]] = result.outcome
                if result.outcome == "invalid":
                    log.error("event %s (%s) not applied: %s", event["_id"], event.get("event"), result.reason)
            return [by_key.get(key) for key in keys]

        return await self.mongo.transaction(work)

    # published status -------------------------------------------------------------------------------------

    async def _fenced(self, write: Callable[[AsyncClientSession], Awaitable[object]]) -> None:
        """A write outside the apply path (cursor, tip, status), in its own transaction behind the lease fence."""

        async def work(session: AsyncClientSession) -> None:
            await self.fence.fence(session)
            await write(session)

        await self.mongo.transaction(work)

    async def _publish_tip(self, tip: StacksTip, marker: str) -> None:
        fields = {
            "stacks_height": tip.block_height,
            "burn_height": tip.burn_block_height,
            "block_hash": tip.block_hash,
            "chain_marker": marker,
        }
        await self._fenced(lambda s: self.store.publish("tip", fields, s))

    async def _publish(self, report: PollReport) -> None:
        try:
            cursor = await self.store.load_cursor()
            pending = await self.store.count_pending()
            synced = cursor.get("synced_height")
            fields: Document = {
                "applied_through": cursor.get("applied_through"),
                "synced_height": synced,
                "chain_marker": cursor.get("chain_marker"),
                "pending_events": pending,
                "halted": report.halted,
                "last_error": report.error,
                "last_poll_at": now_utc(),
                "confirmations": self.config.confirmations,
            }
            if report.stacks_height is not None and synced is not None:
                # A poll that failed before it saw the tip keeps the last known lag rather than erasing it.
                fields["lag_blocks"] = report.stacks_height - synced
            if report.error:
                fields["last_error_at"] = now_utc()
            totals = {
                "applied_total": report.applied,
                "orphaned_total": report.orphaned,
                "errors_total": 1 if report.error else 0,
                "invalid_total": report.invalid,
            }

            async def write(session: AsyncClientSession) -> None:
                await self.store.publish(LISTENER, fields, session)
                await self.store.state.update_one({"_id": LISTENER}, {"$inc": totals}, session=session)

            await self._fenced(write)
        except PyMongoError as exc:
            log.warning("could not publish the listener status: %s", exc)
