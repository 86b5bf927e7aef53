"""Policy writes of one chunk of chain events, staged in memory and written in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError

from services.core.clock import now_utc
from services.core.errors import Conflict
from services.core.models import PolicyRecord
from services.core.status import Cause, StatusDetailed, check_transition
from services.store.documents import plain, policy_event_document, policy_from_document, policy_to_document
from services.store.mongo import Document, MongoStore
from services.store.names import Collection


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
        store: MongoStore,
        quote_ids: Iterable[str],
        onchain_ids: Iterable[int],
        session: AsyncClientSession | None = None,
    ) -> PolicyBatch:
        """The policies holding these quote ids or on-chain ids, in two queries (each one `$in` on an index)."""
        policies = store.db[Collection.POLICIES]
        quotes, onchain = sorted(set(quote_ids)), sorted(set(onchain_ids))
        docs: dict[ObjectId, Document] = {}
        if quotes:
            for doc in await policies.find({"quote_id": {"$in": quotes}}, session=session).to_list(None):
                docs[doc["_id"]] = doc
        if onchain:
            for doc in await policies.find({"policy_id_onchain": {"$in": onchain}}, session=session).to_list(None):
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
        doc = policy_to_document(record.model_copy(update={"version": 0}))
        for field in ("quote_id", "policy_id_onchain"):
            if doc.get(field) is not None and self._find(field, doc[field], loaded=True) is not None:
                raise Conflict(f"a policy with this {field} already exists")
        self._docs[doc["_id"]] = doc
        self._audit.append(
            policy_event_document(doc["_id"], 0, None, record.status_detailed, cause, details or {}, doc["created_at"])
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
        return self._stage(policy, target, {**plain(changes or {}), "status_detailed": target.value}, cause, details)

    def update_fields(self, policy: PolicyRecord, changes: Document, cause: Cause, details: Document) -> PolicyRecord:
        """Stage a change of non-status fields, recorded like a transition to the same status."""
        return self._stage(policy, policy.status_detailed, plain(changes), cause, details)

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
            policy_event_document(oid, doc["version"], policy.status_detailed, target, cause, details or {}, now)
        )
        return policy_from_document(doc)

    async def flush(self, store: MongoStore, session: AsyncClientSession) -> None:
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
                result = await store.db[Collection.POLICIES].bulk_write(writes, ordered=True, session=session)
                if result.matched_count != len(updates):
                    raise Conflict("a policy changed while a batch of its changes was staged")
            if self._audit:
                await store.db[Collection.POLICY_EVENTS].insert_many(self._audit, ordered=True, session=session)
        except BulkWriteError as exc:
            raise Conflict("a policy with this on-chain id or quote, or this audit entry, already exists") from exc
        self._read.update({oid: (d["status_detailed"], d["version"]) for oid, d in self._docs.items()})
        self._changed.clear()
        self._audit.clear()
