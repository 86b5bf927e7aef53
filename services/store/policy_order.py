"""The orders a policy list can be read in, and the keyset positions that page through them.

Every order is total: its field first, then `_id` descending (newest first among equals), so a position
`(key, id)` names exactly one place in the list and a page that starts strictly after (or before) it never repeats
or skips a policy, whatever is inserted meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

Document = dict[str, Any]


class PolicyOrder(StrEnum):
    """Members are the API's enum values."""

    CREATED_AT_DESC = "CREATED_AT_DESC"  # newest first (by `_id`, which is created with the policy)
    EXPIRATION_HEIGHT_ASC = "EXPIRATION_HEIGHT_ASC"  # expiring soonest first
    PREMIUM_DESC = "PREMIUM_DESC"  # largest premium first


@dataclass(frozen=True)
class OrderSpec:
    field: str | None  # the stored field ordered first; None when `_id` alone orders
    direction: int  # of `field`
    code: str  # names the order inside a cursor

    def sort(self, backward: bool = False) -> list[tuple[str, int]]:
        """The sort document: the list's order, or its exact reverse for a page read backwards."""
        keys = ([(self.field, self.direction)] if self.field else []) + [("_id", DESCENDING)]
        return [(name, -direction) for name, direction in keys] if backward else keys

    def key(self, doc: Document) -> int | None:
        if self.field is None:
            return None
        value = doc[self.field]
        return int(value)


ORDERS: dict[PolicyOrder, OrderSpec] = {
    PolicyOrder.CREATED_AT_DESC: OrderSpec(None, DESCENDING, "c"),
    PolicyOrder.EXPIRATION_HEIGHT_ASC: OrderSpec("expiration_height", ASCENDING, "e"),
    PolicyOrder.PREMIUM_DESC: OrderSpec("premium_ustx", DESCENDING, "p"),
}


@dataclass(frozen=True)
class Position:
    """A place in an ordered list: the sort key (None for CREATED_AT_DESC) and the policy id."""

    order: PolicyOrder
    key: int | None
    id: str

    def beyond(self, backward: bool, inclusive: bool = False) -> Document:
        """The filter of the policies strictly after this position in the list's order (before it when
        `backward`; with `inclusive`, the policy at the position too). The range on the sort field comes first so
        an index on (field, _id) bounds the scan."""
        spec = ORDERS[self.order]
        oid = ObjectId(self.id)
        # _id descends in every order: "after" means a smaller _id among equal keys
        id_op = ("$gt" if backward else "$lt") + ("e" if inclusive else "")
        if spec.field is None:
            return {"_id": {id_op: oid}}
        ascending_walk = (spec.direction == ASCENDING) != backward
        return {
            spec.field: {"$gte" if ascending_walk else "$lte": self.key},
            "$or": [{spec.field: {"$gt" if ascending_walk else "$lt": self.key}}, {"_id": {id_op: oid}}],
        }
