"""Opaque keyset cursors for policy pages.

A cursor names a policy's place in one order of the list (its sort key and id); the next page starts strictly
after it (the previous one strictly before it), so policies inserted between two page requests never shift a page
(no duplicates, no gaps). Clients must treat the string as opaque: the version prefix lets the format change without
breaking old cursors silently, and a cursor only means something in the order it was issued for, so one used with
another `orderBy` is BAD_INPUT.

    policy:v1:<id>                 CREATED_AT_DESC (the format before orders existed; still issued for it)
    policy:v2:<code>:<key>:<id>    the other orders: code e / p, the sort key as decimal digits
"""

from __future__ import annotations

import base64
import binascii
import re

from bson import ObjectId

from services.core.errors import BadInput
from services.core.input_bounds import CURSOR, bounded
from services.store.policy_order import ORDERS, PolicyOrder, Position

_V1 = "policy:v1:"
_V2 = re.compile(r"policy:v2:([a-z]):(0|[1-9][0-9]{0,19}):([0-9a-f]{24})")
_BY_CODE = {spec.code: order for order, spec in ORDERS.items()}
# Sort keys are stored as int64; a larger one cannot be sent to the database (PyMongo raises OverflowError).
_MAX_KEY = 2**63 - 1


def encode_cursor(position: Position) -> str:
    spec = ORDERS[position.order]
    raw = f"{_V1}{position.id}" if spec.field is None else f"policy:v2:{spec.code}:{position.key}:{position.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: PolicyOrder, field: str = "after") -> Position:
    """The position inside `cursor`; BAD_INPUT when it is not a cursor this API issued, or was issued for
    another order than `order`."""
    bounded(cursor, field, CURSOR)
    bad = BadInput(f"{field} is not a cursor returned by this API", field=field)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad from exc
    if raw.startswith(_V1) and ObjectId.is_valid(raw[len(_V1) :]) and len(raw) == len(_V1) + 24:
        issued, key, policy_id = PolicyOrder.CREATED_AT_DESC, None, raw[len(_V1) :]
    elif (match := _V2.fullmatch(raw)) and match.group(1) in _BY_CODE and int(match.group(2)) <= _MAX_KEY:
        issued, key, policy_id = _BY_CODE[match.group(1)], int(match.group(2)), match.group(3)
    else:
        raise bad
    if issued is not order:
        raise BadInput(
            f"{field} is a cursor of orderBy {issued.value}: page with the order it was issued for",
            field=field,
            orderBy=issued.value,
        )
    return Position(order, key, policy_id)
