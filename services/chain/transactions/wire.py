"""Wire encoders shared by post-conditions, payloads and authorizations (``wire/``)."""

from __future__ import annotations

import re

from ..c32 import parse_principal

_CLARITY_NAME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9\-_!?+<>=/*]*|[-+=/*]|[<>]=?)$")
U64_MAX = 2**64 - 1


def _lp_name(name: str, what: str) -> bytes:
    raw = name.encode("ascii")
    if not 1 <= len(raw) <= 128:
        raise ValueError(f"{what} must have 1..128 characters")
    return bytes([len(raw)]) + raw


def _check_function_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > 128 or not _CLARITY_NAME.match(name):
        raise ValueError(f"invalid function name {name!r}")
    return name


def _u64(n: int, what: str) -> bytes:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= U64_MAX:
        raise ValueError(f"{what} must be an integer in 0..2^64-1")
    return n.to_bytes(8, "big")


def _principal_wire(principal: str) -> bytes:
    if principal == "origin":
        return b"\x01"
    address, name = parse_principal(principal)
    head = bytes([address.version]) + address.hash160
    if name is None:
        return b"\x02" + head
    return b"\x03" + head + _lp_name(name, "contract name")


def _asset_wire(asset: str) -> bytes:
    contract_id, sep, asset_name = asset.partition("::")
    address, name = parse_principal(contract_id)
    if not sep or name is None:
        raise ValueError("asset must be 'ADDRESS.contract::asset-name'")
    return (
        bytes([address.version])
        + address.hash160
        + _lp_name(name, "contract name")
        + _lp_name(asset_name, "asset name")
    )
