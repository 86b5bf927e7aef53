"""Stored documents to records: the one mapper from a `policies` document to a PolicyRecord."""

from __future__ import annotations

from typing import Any

from services.core.models import PolicyRecord


def policy_from_document(doc: dict[str, Any]) -> PolicyRecord:
    return PolicyRecord.model_validate({**doc, "id": str(doc["_id"])})
