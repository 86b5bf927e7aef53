"""Custom scalars. `BigInt` carries base-unit amounts (sats, usd8, ustx) as decimal strings: GraphQL `Int` is 32-bit."""

from __future__ import annotations

import re
from typing import Any, NewType

import strawberry
from graphql import IntValueNode, StringValueNode, ValueNode

BigInt = NewType("BigInt", int)

# Amounts end up in Clarity `uint`s: 0 to 2^128 - 1 (39 digits). The length is checked before any conversion, so a
# value of thousands of digits costs nothing (and never meets Python's 4,300-digit int limit).
UINT128_MAX = 2**128 - 1
MAX_DIGITS = len(str(UINT128_MAX))
_DIGITS = re.compile(r"[0-9]+")
_RANGE = 'a decimal integer string from 0 to 2^128 - 1 (a Clarity uint), e.g. "150000000"'


def _in_range(number: int) -> int:
    if not 0 <= number <= UINT128_MAX:
        raise ValueError(f"BigInt must be {_RANGE}")
    return number


def _from_digits(digits: str) -> int:
    if len(digits) > MAX_DIGITS or not _DIGITS.fullmatch(digits):
        raise ValueError(f"BigInt must be {_RANGE}")
    return _in_range(int(digits))


def _parse_bigint(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("BigInt must be a decimal integer string, not a boolean")
    if isinstance(value, int):
        return _in_range(value)
    if isinstance(value, str):
        return _from_digits(value)
    raise ValueError(f"BigInt must be {_RANGE}")


def _parse_bigint_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> int:
    if isinstance(node, (StringValueNode, IntValueNode)):
        return _from_digits(node.value)  # an inline literal: its digits, checked before int()
    raise ValueError(f"BigInt must be {_RANGE}")


SCALAR_MAP: dict[object, Any] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        description="An integer amount in base units (satoshis, USD x 1e8, micro-STX), as a decimal string.",
        serialize=str,
        parse_value=_parse_bigint,
        parse_literal=_parse_bigint_literal,
    )
}
