"""A principal the API accepts as an argument (an owner to filter or follow): BAD_INPUT unless it is one."""

from __future__ import annotations

from services.chain.c32 import parse_principal
from services.chain.errors import AddressError
from services.errors import BadInput
from services.input_bounds import CONTRACT_PRINCIPAL, bounded


def check_principal(value: str, field: str) -> str:
    """`value` if it is a standard (`S…`) or contract (`S….name`) principal; BAD_INPUT naming `field` otherwise.
    The length is checked before any decoding."""
    bounded(value, field, CONTRACT_PRINCIPAL)
    try:
        parse_principal(value)
    except AddressError as exc:
        raise BadInput(f"{field} is not a valid Stacks principal: {exc}", field=field) from exc
    return value
