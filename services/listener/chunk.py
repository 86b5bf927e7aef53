"""A chunk of events applied together.

Everything the chunk's handlers read is loaded up front in a few queries (the policies its events name, by quote id
and on-chain id; the tiers they touch); the handlers change that state in memory, in chain order; `flush` writes it
back with a few bulk writes inside the chunk's transaction, where :mod:`services.listener.apply` adds the events'
outcomes and the cursor. An event per round trip made ingestion an order of magnitude slower than writing the same
documents.
"""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from services.liquidity.service import LiquidityService
from services.listener.events import TIERS
from services.store.chain_events import ChainEventRepository, position_doc
from services.store.mongo import Document, MongoStore
from services.store.policy_batch import PolicyBatch
from services.store.tiers import TierRepository

EMPTY_TIER: Document = {
    "capital_ustx": 0,
    "locked_ustx": 0,
    "pending_premiums_ustx": 0,
    "premiums_ustx": 0,
    "settlements_ustx": 0,
}


def tier_snapshot(doc: Document) -> Document:
    return {k: int(doc.get(k, 0)) for k in EMPTY_TIER}


def quote_id_of(payload: Document) -> str:
    return str(payload["quote-id"]).removeprefix("0x").lower()


def chunk_keys(events: list[Document]) -> tuple[set[str], set[int], set[str]]:
    """The quote ids, on-chain policy ids and tiers the handlers of ``events`` may look up."""
    quotes: set[str] = set()
    onchain: set[int] = set()
    tiers: set[str] = set()
    for event in events:
        name, payload = event.get("event"), event.get("payload") or {}
        if name == "policy-created":
            quotes.add(quote_id_of(payload))
        if name in ("policy-created", "policy-status-updated"):
            onchain.add(int(payload["policy-id"]))
        elif isinstance(payload.get("tier"), str) and payload["tier"] in TIERS:
            tiers.add(payload["tier"])
    return quotes, onchain, tiers


class ChunkState:
    def __init__(
        self,
        mongo: MongoStore,
        session: AsyncClientSession,
        policies: PolicyBatch,
        tiers: dict[str, Document],
    ) -> None:
        self._mongo = mongo
        self._session = session
        self.policies = policies
        self._tiers = tiers
        self._tiers_changed: set[str] = set()
        self._confirmed_quotes: set[str] = set()

    @classmethod
    async def load(cls, mongo: MongoStore, events: list[Document], session: AsyncClientSession) -> ChunkState:
        quotes, onchain, tiers = chunk_keys(events)
        policies = await PolicyBatch.load(mongo, quotes, onchain, session)
        tier_docs = await TierRepository(mongo).load_many(tiers, session)
        return cls(mongo, session, policies, {t: tier_docs.get(t) or {"_id": t, **EMPTY_TIER} for t in tiers})

    # tiers ------------------------------------------------------------------------------------------------
    def tier(self, name: str) -> Document:
        """The tier's mirror document as this chunk has left it so far."""
        return self._tiers[name]

    def set_tier(self, name: str, state: Document, event: Document) -> None:
        self._tiers[name] = {**self._tiers[name], **state, "last_event": position_doc(event)}
        self._tiers_changed.add(name)

    async def tier_snapshot_before(self, name: str, event: Document) -> Document | None:
        """The tier's totals after its newest applied event before ``event`` (a rare read: only for a tier whose
        mirror has no `last_event` yet; an event staged earlier in this chunk would have set it)."""
        return await ChainEventRepository(self._mongo).tier_snapshot_before(name, event, self._session)

    # reservations -----------------------------------------------------------------------------------------
    def confirm_created(self, quote_id: str) -> None:
        self._confirmed_quotes.add(quote_id)

    # write-back -------------------------------------------------------------------------------------------
    async def flush(self) -> None:
        await self.policies.flush(self._mongo, self._session)
        if self._tiers_changed:
            snapshots = {
                name: {**tier_snapshot(self._tiers[name]), "last_event": self._tiers[name]["last_event"]}
                for name in self._tiers_changed
            }
            await TierRepository(self._mongo).write_many(snapshots, self._session)
            self._tiers_changed.clear()
        if self._confirmed_quotes:
            await LiquidityService(self._mongo).confirm_created(sorted(self._confirmed_quotes), self._session)
            self._confirmed_quotes.clear()
