"""Repository of `policies` and their `policy_events` audit trail.

Writes that change a policy's status are one conditional update (status and version in the filter) plus one
`policy_events` entry, in one transaction: two racing writers cannot both win, and no status change goes
unrecorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.core.clock import now_utc
from services.core.errors import BadInput, Conflict, NotFound
from services.core.input_bounds import POLICY_ID, bounded
from services.core.models import PolicyEventRecord, PolicyRecord, RiskTier
from services.core.status import TERMINAL, Cause, StatusDetailed, check_transition
from services.core.visibility import PRIVATE_STATUSES, list_scope
from services.store.documents import policy_from_document
from services.store.mongo import Document, MongoStore
from services.store.policy_order import ORDERS, PolicyOrder, Position


def parse_object_id(value: str, what: str = "id") -> ObjectId:
    if isinstance(value, str):
        bounded(value, what, POLICY_ID)
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise BadInput(f"{what} is not a valid policy id", field=what) from exc


def _to_document(record: PolicyRecord) -> Document:
    doc = record.model_dump(mode="python", exclude={"id"})
    doc["_id"] = ObjectId(record.id)
    plain: Document = _plain(doc)
    return plain


def _plain(value: Any) -> Any:
    """Enums to their stored values, recursively (BSON knows neither str- nor int-enums)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith("services."):
        return value.value
    return value


@dataclass(frozen=True)
class PolicyFilter:
    owner: str | None = None
    status_detailed: StatusDetailed | None = None
    status_in: frozenset[StatusDetailed] | None = None  # any of these (with status_detailed: both must hold)
    risk_tier: RiskTier | None = None
    expires_before: int | None = None  # expiration_height < value (burn height)
    expires_after: int | None = None  # expiration_height > value
    # Set by the API: creations not on chain yet are private to their owner (docs/security.md). With
    # public_only, such policies match only when `viewer` (the signed-in address, None if anonymous) owns them.
    public_only: bool = False
    viewer: str | None = None

    def statuses(self) -> frozenset[StatusDetailed] | None:
        """The statuses a policy may have to match; None when the filter leaves the status open."""
        if self.status_detailed is None:
            return self.status_in
        one = frozenset({self.status_detailed})
        return one if self.status_in is None else one & self.status_in

    def query(self) -> Document:
        q: Document = {}
        if self.owner is not None:
            q["owner"] = self.owner
        statuses = self.statuses()
        if statuses is not None:
            values = sorted(s.value for s in statuses)
            q["status_detailed"] = values[0] if len(values) == 1 else {"$in": values}
        if self.risk_tier is not None:
            q["risk_tier"] = self.risk_tier.value
        height: Document = {}
        if self.expires_before is not None:
            height["$lt"] = self.expires_before
        if self.expires_after is not None:
            height["$gt"] = self.expires_after
        if height:
            q["expiration_height"] = height
        scope = list_scope(self.owner, self.viewer, statuses) if self.public_only else None
        if scope is not None:
            hidden: Document = {"status_detailed": {"$nin": sorted(s.value for s in PRIVATE_STATUSES)}}
            if scope.except_owner is not None:
                hidden = {"$or": [hidden, {"owner": scope.except_owner}]}
            q = {"$and": [q, hidden]} if q else hidden
        return q

    def index_hint(self, order: PolicyOrder = PolicyOrder.CREATED_AT_DESC) -> str:
        """The index that serves this filter's shape in `order` (docs/performance.md, "Orders and indexes")."""
        by_status = self.statuses() is not None
        if order is PolicyOrder.EXPIRATION_HEIGHT_ASC:
            if self.owner is not None:
                return "owner_expiration_id"
            return "status_expiration_id" if by_status else "expiration_id"
        if order is PolicyOrder.PREMIUM_DESC:
            if self.owner is not None:
                return "owner_premium_id"
            return "status_premium_id" if by_status else "premium_id"
        if self.owner is not None:
            return "owner_status_id" if by_status else "owner_id"
        if by_status:
            return "status_id"
        if self.risk_tier is not None:
            return "tier_id"
        if self.expires_before is not None or self.expires_after is not None:
            return "expiration_id"
        return "_id_"


@dataclass(frozen=True)
class PolicyPage:
    items: list[PolicyRecord]
    has_more: bool  # beyond the page in the direction it was read (next page forwards, previous backwards)
    positions: list[Position]

    @property
    def has_next_page(self) -> bool:  # a forward page's name for has_more
        return self.has_more


# Sums of base-unit amounts over every public policy. Each fits an int64 with room to spare (all STX that will
# ever exist is 1.8e15 micro-STX, all bitcoin 2.1e15 sats; int64 holds 9.2e18), so the database sums exactly.
STATS_SUMS = ("protected_amount_sats", "collateral_ustx", "premium_ustx")


@dataclass(frozen=True)
class PolicyStatsRow:
    risk_tier: RiskTier
    status_detailed: StatusDetailed
    policy_count: int
    protected_amount_sats: int
    collateral_ustx: int
    premium_ustx: int


def stats_pipeline() -> list[Document]:
    """Public policies grouped by tier and status; the first stage's range is on the covering index's lead."""
    public = {"status_detailed": {"$nin": sorted(s.value for s in PRIVATE_STATUSES)}}
    return [
        {"$match": public},
        {
            "$group": {
                "_id": {"tier": "$risk_tier", "status": "$status_detailed"},
                "policy_count": {"$sum": 1},
                **{field: {"$sum": f"${field}"} for field in STATS_SUMS},
            }
        },
    ]


STATS_INDEX = "stats_cover"


class PolicyRepository:
    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._policies = store.db.policies
        self._events = store.db.policy_events

    # --- reads ----------------------------------------------------------------------------------------------
    async def get(self, policy_id: str) -> PolicyRecord | None:
        doc = await self._policies.find_one({"_id": parse_object_id(policy_id)})
        return policy_from_document(doc) if doc else None

    async def require(self, policy_id: str) -> PolicyRecord:
        record = await self.get(policy_id)
        if record is None:
            raise NotFound(f"policy {policy_id} does not exist", id=policy_id)
        return record

    async def get_by_onchain_id(self, policy_id_onchain: int) -> PolicyRecord | None:
        doc = await self._policies.find_one({"policy_id_onchain": policy_id_onchain})
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
        rows = []
        for doc in await cursor.to_list(length=None):
            sums = {name: doc[name] for name in ("policy_count", *STATS_SUMS)}
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in sums.values()):
                raise ValueError(f"policy stats are not exact integers: {sums}")  # a double: an overflowed sum
            sums = {name: int(v) for name, v in sums.items()}
            rows.append(PolicyStatsRow(RiskTier(doc["_id"]["tier"]), StatusDetailed(doc["_id"]["status"]), **sums))
        return sorted(rows, key=lambda r: (r.risk_tier.value, r.status_detailed.value))

    async def explain_stats(self) -> Document:
        """The server's plan for `stats` (the explain command around the same aggregate)."""
        command = {"aggregate": self._policies.name, "pipeline": stats_pipeline(), "cursor": {}, "hint": STATS_INDEX}
        result: Document = await self._store.db.command("explain", command, verbosity="queryPlanner")
        return result

    async def history(self, policy_id: str) -> list[PolicyEventRecord]:
        oid = parse_object_id(policy_id)
        docs = await self._events.find({"policy_id": oid}).sort("version", 1).to_list(length=None)
        return [
            PolicyEventRecord.model_validate({**d, "id": str(d["_id"]), "policy_id": str(d["policy_id"])}) for d in docs
        ]

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
        doc = _to_document(record.model_copy(update={"version": 0}))

        async def work(session: AsyncClientSession) -> None:
            await self._policies.insert_one(doc, session=session)
            await self._events.insert_one(
                self._event_doc(doc["_id"], 0, None, record.status_detailed, cause, details or {}, doc["created_at"]),
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
        update_set = {**_plain(changes or {}), "status_detailed": target.value, "updated_at": now}

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
                self._event_doc(oid, doc["version"], policy.status_detailed, target, cause, details or {}, now),
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
                {"$set": {**_plain(changes), "updated_at": now}, "$inc": {"version": 1}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is not None:
                await self._events.insert_one(
                    self._event_doc(
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

    @staticmethod
    def _event_doc(
        policy_oid: ObjectId,
        version: int,
        source: StatusDetailed | None,
        target: StatusDetailed,
        cause: Cause,
        details: Document,
        at: datetime,
    ) -> Document:
        return {
            "policy_id": policy_oid,
            "version": version,
            "from_status": source.value if source else None,
            "to_status": target.value,
            "cause": cause.value,
            "at": at,
            "details": _plain(details),
        }

    # -- reads and writes for the listener and jobs (WP-C)
    async def get_in(self, policy_id: str, session: AsyncClientSession) -> PolicyRecord | None:
        """The policy as ``session``'s transaction sees it."""
        doc = await self._policies.find_one({"_id": ObjectId(policy_id)}, session=session)
        return policy_from_document(doc) if doc else None

    async def by_quote_id(self, quote_id: str, session: AsyncClientSession) -> PolicyRecord | None:
        doc = await self._policies.find_one({"quote_id": quote_id}, session=session)
        return policy_from_document(doc) if doc else None

    async def by_onchain_id(self, policy_id_onchain: int, session: AsyncClientSession) -> PolicyRecord | None:
        doc = await self._policies.find_one({"policy_id_onchain": policy_id_onchain}, session=session)
        return policy_from_document(doc) if doc else None

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

    async def load_batch(
        self, quote_ids: Iterable[str], onchain_ids: Iterable[int], session: AsyncClientSession
    ) -> PolicyBatch:
        """The policies holding these quote ids or on-chain ids, staged for a chunk of the listener's changes."""
        return await PolicyBatch.load(self._store.db, quote_ids, onchain_ids, session)

    async def flush_batch(self, batch: PolicyBatch, session: AsyncClientSession) -> None:
        await batch.flush(self._store.db, session)


class PolicyBatch:
    """Policy writes staged in memory and written with two bulk writes (the chain listener applies a chunk of
    events this way instead of paying several round trips per event).

    The repository's invariants hold: every status change is checked by the status machine when it is staged,
    every change bumps the version and gets its audit entry, and `flush` is conditional on the status and version
    each policy was read at (Conflict otherwise). Lookups by quote id or on-chain id answer only for the keys
    loaded (or policies staged since): a key never loaded raises rather than pretending the policy is absent.
    """

    def __init__(self, docs: Iterable[Document], quote_ids: Iterable[str], onchain_ids: Iterable[int]) -> None:
        self._docs: dict[ObjectId, Document] = {}
        self._read: dict[ObjectId, tuple[str, int]] = {}  # status and version as read; absent when inserted here
        self._changed: dict[ObjectId, set[str]] = {}
        self._audit: list[Document] = []
        self._quotes: set[str] = set(quote_ids)
        self._onchain: set[int] = set(onchain_ids)
        for doc in docs:
            self._docs[doc["_id"]] = doc
            self._read[doc["_id"]] = (doc["status_detailed"], doc.get("version", 0))

    @classmethod
    async def load(
        cls,
        db: AsyncDatabase[Document],
        quote_ids: Iterable[str],
        onchain_ids: Iterable[int],
        session: AsyncClientSession | None = None,
    ) -> PolicyBatch:
        """The policies holding these quote ids or on-chain ids, in two queries (each one `$in` on an index)."""
        quotes, onchain = sorted(set(quote_ids)), sorted(set(onchain_ids))
        docs: dict[ObjectId, Document] = {}
        if quotes:
            for doc in await db.policies.find({"quote_id": {"$in": quotes}}, session=session).to_list(None):
                docs[doc["_id"]] = doc
        if onchain:
            for doc in await db.policies.find({"policy_id_onchain": {"$in": onchain}}, session=session).to_list(None):
                docs[doc["_id"]] = doc
        return cls(docs.values(), quotes, onchain)

    # --- reads ----------------------------------------------------------------------------------------------
    def by_quote_id(self, quote_id: str) -> PolicyRecord | None:
        return self._find("quote_id", quote_id, quote_id in self._quotes)

    def by_onchain_id(self, policy_id_onchain: int) -> PolicyRecord | None:
        return self._find("policy_id_onchain", policy_id_onchain, policy_id_onchain in self._onchain)

    def _find(self, field: str, value: Any, loaded: bool) -> PolicyRecord | None:
        # Both keys are unique, so a staged policy holding the key is the answer even if the key was not loaded.
        for doc in self._docs.values():
            if doc.get(field) == value:
                return policy_from_document(doc)
        if not loaded:
            raise KeyError(f"policies with {field} {value!r} were not loaded into this batch")
        return None

    # --- staged writes --------------------------------------------------------------------------------------
    def insert(self, record: PolicyRecord, cause: Cause, details: Document | None = None) -> PolicyRecord:
        doc = _to_document(record.model_copy(update={"version": 0}))
        for field in ("quote_id", "policy_id_onchain"):
            if doc.get(field) is not None and self._find(field, doc[field], loaded=True) is not None:
                raise Conflict(f"a policy with this {field} already exists")
        self._docs[doc["_id"]] = doc
        self._audit.append(
            PolicyRepository._event_doc(
                doc["_id"], 0, None, record.status_detailed, cause, details or {}, doc["created_at"]
            )
        )
        return policy_from_document(doc)

    def transition(
        self,
        policy: PolicyRecord,
        target: StatusDetailed,
        cause: Cause,
        changes: Document | None = None,
        details: Document | None = None,
    ) -> PolicyRecord:
        """Stage `policy`'s move to `target` (validated now by the status machine)."""
        check_transition(policy.status_detailed, target, cause)
        return self._stage(policy, target, {**_plain(changes or {}), "status_detailed": target.value}, cause, details)

    def update_fields(self, policy: PolicyRecord, changes: Document, cause: Cause, details: Document) -> PolicyRecord:
        """Stage a change of non-status fields, recorded like a transition to the same status."""
        return self._stage(policy, policy.status_detailed, _plain(changes), cause, details)

    def _stage(
        self, policy: PolicyRecord, target: StatusDetailed, fields: Document, cause: Cause, details: Document | None
    ) -> PolicyRecord:
        oid = ObjectId(policy.id)
        doc = self._docs.get(oid)
        if doc is None or doc["status_detailed"] != policy.status_detailed.value or doc["version"] != policy.version:
            raise Conflict(f"policy {policy.id} changed since it was read", id=policy.id)
        now = now_utc()
        doc.update(fields, updated_at=now, version=doc["version"] + 1)
        self._changed.setdefault(oid, set()).update(fields, ("updated_at", "version"))
        self._audit.append(
            PolicyRepository._event_doc(oid, doc["version"], policy.status_detailed, target, cause, details or {}, now)
        )
        return policy_from_document(doc)

    async def flush(self, db: AsyncDatabase[Document], session: AsyncClientSession) -> None:
        """Write the staged policies (one bulk write) and their audit entries (one insert) in `session`."""
        inserts: list[InsertOne[Document]] = []
        updates: list[UpdateOne] = []
        for oid, doc in self._docs.items():
            if oid not in self._read:
                inserts.append(InsertOne(doc))
            elif oid in self._changed:
                status, version = self._read[oid]
                fields = {k: doc[k] for k in sorted(self._changed[oid])}
                updates.append(UpdateOne({"_id": oid, "status_detailed": status, "version": version}, {"$set": fields}))
        writes: list[InsertOne[Document] | UpdateOne] = [*inserts, *updates]  # grouped: one command per kind
        try:
            if writes:
                result = await db.policies.bulk_write(writes, ordered=True, session=session)
                if result.matched_count != len(updates):
                    raise Conflict("a policy changed while a batch of its changes was staged")
            if self._audit:
                await db.policy_events.insert_many(self._audit, ordered=True, session=session)
        except BulkWriteError as exc:
            raise Conflict("a policy with this on-chain id or quote, or this audit entry, already exists") from exc
        self._read.update({oid: (d["status_detailed"], d["version"]) for oid, d in self._docs.items()})
        self._changed.clear()
        self._audit.clear()


def new_policy_id() -> str:
    return str(ObjectId())
