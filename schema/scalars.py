"""Custom scalars. `BigInt` carries base-unit amounts (sats, usd8, ustx) as decimal strings: GraphQL `Int` is 32-bit."""

from __future__ import annotations

import re
from typing import Any, NewType

import strawberry

BigInt = NewType("BigInt", int)

_DIGITS = re.compile(r"-?[0-9]{1,39}")


def _parse_bigint(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("BigInt must be a decimal integer string, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise ValueError('BigInt must be a decimal integer string of at most 39 digits, e.g. "150000000"')


SCALAR_MAP: dict[object, Any] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer amount in base units (satoshis, USD x 1e8, micro-STX), as a decimal string.",
        serialize=str,
        parse_value=_parse_bigint,
    )
}
