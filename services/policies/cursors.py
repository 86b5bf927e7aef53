"""Opaque keyset cursors for policy pages.

A cursor names the last policy a client has seen; the next page starts strictly after it in the page order, so
policies inserted between two page requests never shift a page (no duplicates, no gaps). Clients must treat the
string as opaque: the version prefix lets the format change without breaking old cursors silently.
"""

from __future__ import annotations

import base64
import binascii

from bson import ObjectId

from services.errors import BadInput
from services.input_bounds import CURSOR, bounded

_PREFIX = "policy:v1:"


def encode_cursor(policy_id: str) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{policy_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The policy id inside `cursor`, or BAD_INPUT when it is not a cursor this API issued."""
    bounded(cursor, "after", CURSOR)
    bad = BadInput("after is not a cursor returned by this API", field="after")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad from exc
    if not raw.startswith(_PREFIX) or not ObjectId.is_valid(raw[len(_PREFIX) :]):
        raise bad
    return raw[len(_PREFIX) :]
