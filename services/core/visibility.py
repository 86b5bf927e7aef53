"""Who may see a policy: the one place that says so (docs/security.md, "Who sees a pending policy").

A creation that is not on chain yet (or failed before it got there) is its owner's business only: everyone else
sees such a policy not at all, in a single read, a list or a subscription. Queries ask `is_visible`, the store's
list filters ask `list_scope`, subscriptions ask `is_visible` for the address of a live session."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.models import PolicyRecord
from services.core.status import StatusDetailed

PRIVATE_STATUSES: frozenset[StatusDetailed] = frozenset({StatusDetailed.PendingCreation, StatusDetailed.FailedCreation})


def is_private(record: PolicyRecord) -> bool:
    return record.status_detailed in PRIVATE_STATUSES


def is_visible(record: PolicyRecord, viewer: str | None) -> bool:
    """`viewer` is the signed-in address, or None for an anonymous client."""
    return not is_private(record) or (viewer is not None and viewer == record.owner)


@dataclass(frozen=True)
class ListScope:
    """What a list must leave out: policies in a private status, except those of `except_owner` (if any)."""

    except_owner: str | None = None


def list_scope(owner: str | None, viewer: str | None, statuses: frozenset[StatusDetailed] | None) -> ListScope | None:
    """The private policies a list filtered on `owner` and `statuses` must hide from `viewer`; None when it need
    hide nothing (the viewer lists their own policies, or the statuses asked for are all public)."""
    private_possible = statuses is None or bool(statuses & PRIVATE_STATUSES)
    if not private_possible or (viewer is not None and owner == viewer):
        return None
    return ListScope(except_owner=viewer if owner is None else None)


EVERYONE = ListScope()  # what an aggregate over everyone's policies may count: no private policy
