"""Who may see a policy: a creation that is not on chain yet (or failed before it got there) is its owner's
business only. Everyone else sees such a policy not at all (docs/security.md)."""

from __future__ import annotations

from services.core.models import PolicyRecord
from services.core.status import StatusDetailed

PRIVATE_STATUSES: frozenset[StatusDetailed] = frozenset({StatusDetailed.PendingCreation, StatusDetailed.FailedCreation})


def is_private(record: PolicyRecord) -> bool:
    return record.status_detailed in PRIVATE_STATUSES


def is_visible(record: PolicyRecord, viewer: str | None) -> bool:
    """`viewer` is the signed-in address, or None for an anonymous client."""
    return not is_private(record) or (viewer is not None and viewer == record.owner)
