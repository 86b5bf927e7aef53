"""A principal the API accepts as an argument (an owner to filter or follow): BAD_INPUT unless it is one."""

from __future__ import annotations

from services.chain.c32 import parse_principal
from services.chain.errors import AddressError
from services.core.errors import BadInput
from services.core.input_bounds import CONTRACT_PRINCIPAL, bounded


def check_principal(value: str, field: str) -> str:
    """`value` in its canonical spelling if it is a standard (`S…`) or contract (`S….name`) principal; BAD_INPUT
    naming `field` otherwise. The length is checked before any decoding. c32check reads the address's digits in
    any case, with O for 0 and I/L for 1; stored owners are canonical, so a filter or a subscription must look for
    the canonical spelling (the contract name is case-sensitive and kept as given)."""
    bounded(value, field, CONTRACT_PRINCIPAL)
    try:
        address, name = parse_principal(value)
    except AddressError as exc:
        raise BadInput(f"{field} is not a valid Stacks principal: {exc}", field=field) from exc
    return str(address) if name is None else f"{address}.{name}"
