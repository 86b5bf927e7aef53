"""Repository of `policies` and their `policy_events` audit trail.

Writes that change a policy's status are one conditional update (status and version in the filter) plus one
`policy_events` entry, in one transaction: two racing writers cannot both win, and no status change goes
unrecorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.core.clock import now_utc
from services.core.errors import Conflict, NotFound
from services.core.models import PolicyEventRecord, PolicyRecord
from services.core.status import TERMINAL, Cause, StatusDetailed, check_transition
from services.store.documents import (
    parse_object_id,
    plain,
    policy_event_document,
    policy_event_from_document,
    policy_from_document,
    policy_to_document,
)
from services.store.mongo import Document, MongoStore
from services.store.names import Collection
from services.store.policy_filter import PolicyFilter
from services.store.policy_order import ORDERS, PolicyOrder, Position
from services.store.policy_stats import STATS_INDEX, PolicyStatsRow, stats_pipeline, stats_rows


@dataclass(frozen=True)
class PolicyPage:
    items: list[PolicyRecord]
    has_more: bool  # beyond the page in the direction it was read (next page forwards, previous backwards)
    positions: list[Position]

    @property
    def has_next_page(self) -> bool:  # a forward page's name for has_more
        return self.has_more


class PolicyRepository:
    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._policies = store.db[Collection.POLICIES]
        self._events = store.db[Collection.POLICY_EVENTS]

    # --- reads ----------------------------------------------------------------------------------------------
    async def get(self, policy_id: str, session: AsyncClientSession | None = None) -> PolicyRecord | None:
        """The policy (as `session`'s transaction sees it, when given)."""
        doc = await self._policies.find_one({"_id": parse_object_id(policy_id)}, session=session)
        return policy_from_document(doc) if doc else None

    async def require(self, policy_id: str) -> PolicyRecord:
        record = await self.get(policy_id)
        if record is None:
            raise NotFound(f"policy {policy_id} does not exist", id=policy_id)
        return record

    async def get_by_onchain_id(
        self, policy_id_onchain: int, session: AsyncClientSession | None = None
    ) -> PolicyRecord | None:
        doc = await self._policies.find_one({"policy_id_onchain": policy_id_onchain}, session=session)
        return policy_from_document(doc) if doc else None

    async def get_by_quote_id(self, quote_id: str, session: AsyncClientSession | None = None) -> PolicyRecord | None:
        doc = await self._policies.find_one({"quote_id": quote_id}, session=session)
        return policy_from_document(doc) if doc else None

    @staticmethod
    def page_query(
        flt: PolicyFilter, start: Position | None, backward: bool = False, inclusive: bool = False
    ) -> Document:
        """The filter of a page: the policies matching `flt` beyond `start` in the direction read."""
        query = flt.query()
        if start is None:
            return query
        beyond = start.beyond(backward, inclusive)
        return {"$and": [query, beyond]} if query else beyond

    async def page(
        self,
        flt: PolicyFilter,
        first: int,
        after: str | Position | None = None,
        order: PolicyOrder = PolicyOrder.CREATED_AT_DESC,
        backward: bool = False,
    ) -> PolicyPage:
        """Keyset page of `first` policies in `order`, starting strictly beyond `after` (a position, or for the
        default order the id of the last item of the previous page). `backward` reads the page that ends just
        before `after` instead; the items are returned in the list's order either way."""
        start = Position(order, None, str(parse_object_id(after, "after"))) if isinstance(after, str) else after
        spec = ORDERS[order]
        cursor = (
            self._policies.find(self.page_query(flt, start, backward))
            .sort(spec.sort(backward))
            .limit(first + 1)
            .hint(flt.index_hint(order))
        )
        docs = await cursor.to_list(length=first + 1)
        has_more = len(docs) > first
        docs = docs[:first]
        if backward:
            docs.reverse()
        return PolicyPage(
            [policy_from_document(d) for d in docs],
            has_more=has_more,
            positions=[Position(order, spec.key(d), str(d["_id"])) for d in docs],
        )

    async def exists_beyond(self, flt: PolicyFilter, start: Position, backward: bool) -> bool:
        """Whether any policy matching `flt` lies at or beyond `start` (before it when `backward`): the far side of
        a page read from a cursor, i.e. its `hasPreviousPage` (forwards) or `hasNextPage` (backwards)."""
        spec = ORDERS[start.order]
        cursor = (
            self._policies.find(self.page_query(flt, start, backward, inclusive=True), projection={"_id": 1})
            .sort(spec.sort(backward))
            .limit(1)
            .hint(flt.index_hint(start.order))
        )
        return bool(await cursor.to_list(length=1))

    async def count(self, flt: PolicyFilter) -> int:
        return await self._policies.count_documents(flt.query(), hint=flt.index_hint())

    async def explain_page(
        self, flt: PolicyFilter, first: int, order: PolicyOrder = PolicyOrder.CREATED_AT_DESC, backward: bool = False
    ) -> Document:
        """The server's query plan for a page of this filter (tests and operators use it)."""
        spec = ORDERS[order]
        cursor = self._policies.find(flt.query()).sort(spec.sort(backward)).limit(first).hint(flt.index_hint(order))
        return await cursor.explain()

    async def stats(self) -> list[PolicyStatsRow]:
        """Public policies per tier and status: count and sums, aggregated by the database."""
        cursor = await self._policies.aggregate(stats_pipeline(), hint=STATS_INDEX)
        return stats_rows(await cursor.to_list(length=None))

    async def explain_stats(self) -> Document:
        """The server's plan for `stats` (the explain command around the same aggregate)."""
        command = {"aggregate": self._policies.name, "pipeline": stats_pipeline(), "cursor": {}, "hint": STATS_INDEX}
        result: Document = await self._store.db.command("explain", command, verbosity="queryPlanner")
        return result

    async def history(self, policy_id: str) -> list[PolicyEventRecord]:
        oid = parse_object_id(policy_id)
        docs = await self._events.find({"policy_id": oid}).sort("version", 1).to_list(length=None)
        return [policy_event_from_document(d) for d in docs]

    # --- writes ---------------------------------------------------------------------------------------------
    async def insert(
        self,
        record: PolicyRecord,
        cause: Cause,
        details: Document | None = None,
        session: AsyncClientSession | None = None,
    ) -> PolicyRecord:
        """Store a new policy (version 0) with its first audit entry, atomically (in `session`'s transaction
        when given, so callers can combine it with their own writes)."""
        doc = policy_to_document(record.model_copy(update={"version": 0}))

        async def work(session: AsyncClientSession) -> None:
            await self._policies.insert_one(doc, session=session)
            await self._events.insert_one(
                policy_event_document(
                    doc["_id"], 0, None, record.status_detailed, cause, details or {}, doc["created_at"]
                ),
                session=session,
            )

        try:
            await (work(session) if session is not None else self._store.transaction(work))
        except DuplicateKeyError as exc:
            raise Conflict("a policy with this on-chain id, quote or idempotency key already exists") from exc
        return policy_from_document(doc)

    async def transition(
        self,
        policy: PolicyRecord,
        target: StatusDetailed,
        cause: Cause,
        changes: Document | None = None,
        details: Document | None = None,
        session: AsyncClientSession | None = None,
    ) -> PolicyRecord:
        """Move `policy` (as read, at its version) to `target`; Conflict if anyone moved it meanwhile.

        Runs in `session`'s transaction when given (the caller commits), else in a transaction of its own."""
        check_transition(policy.status_detailed, target, cause)
        now = now_utc()
        oid = ObjectId(policy.id)
        update_set = {**plain(changes or {}), "status_detailed": target.value, "updated_at": now}

        async def work(session: AsyncClientSession) -> Document | None:
            doc = await self._policies.find_one_and_update(
                {"_id": oid, "status_detailed": policy.status_detailed.value, "version": policy.version},
                {"$set": update_set, "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is None:
                return None
            await self._events.insert_one(
                policy_event_document(oid, doc["version"], policy.status_detailed, target, cause, details or {}, now),
                session=session,
            )
            return doc

        try:
            updated = await (work(session) if session is not None else self._store.transaction(work))
        except DuplicateKeyError:
            updated = None
        if updated is None:
            raise Conflict(
                f"policy {policy.id} changed since it was read (expected {policy.status_detailed.value} "
                f"at version {policy.version})",
                id=policy.id,
            )
        return policy_from_document(updated)

    async def update_fields(
        self, policy: PolicyRecord, changes: Document, cause: Cause, details: Document | None = None
    ) -> PolicyRecord:
        """Change non-status fields of `policy` (as read, at its version), recorded like a transition."""
        now = now_utc()
        oid = ObjectId(policy.id)

        async def work(session: AsyncClientSession) -> Document | None:
            doc = await self._policies.find_one_and_update(
                {"_id": oid, "status_detailed": policy.status_detailed.value, "version": policy.version},
                {"$set": {**plain(changes), "updated_at": now}, "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is not None:
                await self._events.insert_one(
                    policy_event_document(
                        oid,
                        doc["version"],
                        policy.status_detailed,
                        policy.status_detailed,
                        cause,
                        {"changed": sorted(changes), **(details or {})},
                        now,
                    ),
                    session=session,
                )
            return doc

        updated = await self._store.transaction(work)
        if updated is None:
            raise Conflict(f"policy {policy.id} changed since it was read; retry", id=policy.id)
        return policy_from_document(updated)

    async def find_by_idempotency_key(self, owner: str, key: str) -> PolicyRecord | None:
        doc = await self._policies.find_one({"owner": owner, "idempotency_key": key})
        return policy_from_document(doc) if doc else None

    # --- reads for the live-update feed (services/pubsub) ---------------------------------------------------
    async def changed_since(self, owner: str, since: datetime, limit: int) -> list[PolicyRecord]:
        """At most `limit` of the owner's policies changed after `since` (updated_at), oldest change first."""
        cursor = (
            self._policies.find({"owner": owner, "updated_at": {"$gt": since}})
            .sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
            .hint("owner_updated")
            .limit(limit)
        )
        return [policy_from_document(d) for d in await cursor.to_list(length=limit)]

    async def changed_in(
        self, policy_ids: Iterable[str], owners: Iterable[str], owners_since: datetime | None = None
    ) -> AsyncIterator[PolicyRecord]:
        """The policies with these ids, and those of these owners (changed at or after `owners_since` when given),
        in the order they were last changed: what live subscribers watch, re-read after a gap in the change stream.
        """
        ids = [parse_object_id(i) for i in policy_ids]
        owner_list = list(owners)
        query: list[Document] = []
        if ids:
            query.append({"_id": {"$in": ids}})
        if owner_list:
            owner_query: Document = {"owner": {"$in": owner_list}}
            if owners_since is not None:
                owner_query["updated_at"] = {"$gte": owners_since}
            query.append(owner_query)
        if query:
            async for doc in self._policies.find({"$or": query}).sort("updated_at", 1):
                yield policy_from_document(doc)

    # --- reads for the expiration job (services/policies/lifecycle.py) --------------------------------------
    async def due_for_expiration(self, burn_height: int, limit: int) -> list[str]:
        """Ids of the policies whose expiration height `burn_height` has passed: Active ones, then FailedSettlement
        ones (their settlement can no longer succeed), at most `limit` of each."""
        due: list[str] = []
        for status in (StatusDetailed.Active, StatusDetailed.FailedSettlement):
            cursor = self._policies.find(
                {"status_detailed": status.value, "expiration_height": {"$lt": burn_height}},
                hint="status_expiration_id",
            )
            due += [str(doc["_id"]) for doc in await cursor.limit(limit).to_list(None)]
        return due

    # --- reads for the chain listener and the jobs (services/listener, services/jobs) -----------------------
    async def pending_creations_with_tx(self, limit: int = 1000) -> list[PolicyRecord]:
        """PendingCreation policies whose creation transaction was reported (the creation monitor follows them)."""
        docs = await self._policies.find(
            {"status_detailed": StatusDetailed.PendingCreation.value, "tx_id_creation": {"$type": "string"}}
        ).to_list(length=limit)
        return [policy_from_document(d) for d in docs]

    async def lapsed_pending_creations(self, below_height: int, limit: int = 1000) -> list[PolicyRecord]:
        """PendingCreation policies with no transaction reported whose quote expired below ``below_height``."""
        docs = await self._policies.find(
            {
                "status_detailed": StatusDetailed.PendingCreation.value,
                "tx_id_creation": None,
                "quote_expiry_height": {"$lt": below_height},
            }
        ).to_list(length=limit)
        return [policy_from_document(d) for d in docs]

    async def open_onchain_ids(self) -> list[tuple[str, int]]:
        """(id, on-chain id) of every non-terminal policy that has an on-chain id (reconciliation checks them)."""
        docs = await self._policies.find(
            {"status_detailed": {"$nin": [s.value for s in TERMINAL]}, "policy_id_onchain": {"$type": "number"}},
            projection={"_id": 1, "policy_id_onchain": 1},
        ).to_list(length=None)
        return [(str(d["_id"]), int(d["policy_id_onchain"])) for d in docs]

    async def last_chain_transition(
        self, policy_id: str, to_status: StatusDetailed, session: AsyncClientSession
    ) -> StatusDetailed | None:
        """The status the policy left when the chain (or reconciliation) last moved it to ``to_status``."""
        entry = await self._events.find_one(
            {
                "policy_id": ObjectId(policy_id),
                "to_status": to_status.value,
                "cause": {"$in": [Cause.CHAIN.value, Cause.RECONCILE.value]},
            },
            sort=[("version", -1)],
            session=session,
        )
        previous = entry.get("from_status") if entry else None
        return StatusDetailed(previous) if previous is not None else None

    async def any(self) -> bool:
        return bool(await self._policies.count_documents({}, limit=1))
