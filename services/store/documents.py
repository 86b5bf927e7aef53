"""The one mapping between stored policy documents and `PolicyRecord` (and the audit entries of `policy_events`).

Every reader of `policies` (the repository, the listener's batches, the change feed) maps through here, so a field
added to the record is stored and read back the same way everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from services.core.errors import BadInput
from services.core.input_bounds import POLICY_ID, bounded
from services.core.models import PolicyEventRecord, PolicyRecord
from services.core.status import Cause, StatusDetailed
from services.store.mongo import Document


def parse_object_id(value: str, what: str = "id") -> ObjectId:
    if isinstance(value, str):
        bounded(value, what, POLICY_ID)
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise BadInput(f"{what} is not a valid policy id", field=what) from exc


def new_policy_id() -> str:
    return str(ObjectId())


def policy_from_document(doc: Document) -> PolicyRecord:
    return PolicyRecord.model_validate({**doc, "id": str(doc["_id"])})


def policy_to_document(record: PolicyRecord) -> Document:
    doc = record.model_dump(mode="python", exclude={"id"})
    doc["_id"] = ObjectId(record.id)
    stored: Document = plain(doc)
    return stored


def plain(value: Any) -> Any:
    """Enums to their stored values, recursively (BSON knows neither str- nor int-enums)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith("services."):
        return value.value
    return value


def policy_event_document(
    policy_oid: ObjectId,
    version: int,
    source: StatusDetailed | None,
    target: StatusDetailed,
    cause: Cause,
    details: Document,
    at: datetime,
) -> Document:
    """The `policy_events` entry of one change of a policy (a status transition, or fields at the same status)."""
    return {
        "policy_id": policy_oid,
        "version": version,
        "from_status": source.value if source else None,
        "to_status": target.value,
        "cause": cause.value,
        "at": at,
        "details": plain(details),
    }


def policy_event_from_document(doc: Document) -> PolicyEventRecord:
    return PolicyEventRecord.model_validate({**doc, "id": str(doc["_id"]), "policy_id": str(doc["policy_id"])})
