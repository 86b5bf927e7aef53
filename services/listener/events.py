"""Decoding and validating the contracts' print events (contracts/README.md "Events").

A log row's Clarity value is decoded from its hex (never from repr) into a plain dict with the contract's
kebab-case keys. Known events are checked field by field against the contract's payload; anything that does not
match is reported as invalid and is never applied. Buffers are stored as ``0x`` hex and integers beyond BSON's
int64 as decimal strings, so every payload is storable as it came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from services.chain import ChainError, ResponseErr, ResponseOk, decode_to_python

INT64_MAX = 2**63 - 1

Source = Literal["registry", "vault"]

# event name → (the contract that prints it, {field: type}); "int" fields are uints within int64 (amounts and
# heights, which the service computes with), "uint" fields uints of any size (share counts, which pass 2^63 once a
# tier holds ~9.2M STX at 10^6 shares per uSTX, and the mirror never reads: stored as decimal strings beyond
# int64), "str" ascii/principals, "hex" buffers.
EVENT_FIELDS: dict[str, tuple[Source, dict[str, str]]] = {
    "policy-created": (
        "registry",
        {
            "policy-id": "int",
            "owner": "str",
            "counterparty": "str",
            "protected-value-usd8": "int",
            "protected-amount-sats": "int",
            "expiration-height": "int",
            "policy-type": "str",
            "premium-ustx": "int",
            "collateral-ustx": "int",
            "risk-tier": "str",
            "quote-id": "hex",
        },
    ),
    "policy-status-updated": (
        "registry",
        {
            "policy-id": "int",
            "previous-status": "int",
            "new-status": "int",
            "settlement-ustx": "int",
            "settlement-price-usd8": "int",
            "block-height": "int",
        },
    ),
    "backend-principal-set": ("registry", {"previous": "str", "backend-principal": "str"}),
    "quote-signer-set": ("registry", {"previous": "hex", "quote-signer": "hex"}),
    "admin-proposed": ("registry", {"admin": "str", "proposed": "str"}),
    "admin-transferred": ("registry", {"previous": "str", "admin": "str"}),
    "funds-deposited": (
        "vault",
        {
            "tier": "str",
            "provider": "str",
            "amount-ustx": "int",
            "shares": "uint",
            "tier-capital-ustx": "int",
            "tier-total-shares": "uint",
        },
    ),
    "funds-withdrawn": (
        "vault",
        {
            "tier": "str",
            "provider": "str",
            "amount-ustx": "int",
            "shares": "uint",
            "tier-capital-ustx": "int",
            "tier-total-shares": "uint",
        },
    ),
    "collateral-locked": (
        "vault",
        {"policy-id": "int", "tier": "str", "amount-ustx": "int", "tier-locked-ustx": "int"},
    ),
    "premium-received": (
        "vault",
        {
            "policy-id": "int",
            "tier": "str",
            "payer": "str",
            "amount-ustx": "int",
            "tier-capital-ustx": "int",
            "tier-pending-premiums-ustx": "int",
        },
    ),
    "settlement-paid": (
        "vault",
        {
            "policy-id": "int",
            "tier": "str",
            "recipient": "str",
            "amount-ustx": "int",
            "tier-capital-ustx": "int",
            "tier-locked-ustx": "int",
        },
    ),
    "collateral-released": (
        "vault",
        {
            "policy-id": "int",
            "tier": "str",
            "amount-ustx": "int",
            "tier-locked-ustx": "int",
            "premium-vested-ustx": "int",
            "tier-capital-ustx": "int",
            "tier-pending-premiums-ustx": "int",
        },
    ),
    "surplus-swept": ("vault", {"recipient": "str", "amount-ustx": "int"}),
}

TIERS = ("Conservative", "Balanced", "Aggressive")


class InvalidEvent(ValueError):
    """A log value that is not a well-formed event of the contract that printed it."""


@dataclass(frozen=True)
class DecodedEvent:
    """``name`` is None for a print that is not an event this service knows (stored, never applied)."""

    name: str | None
    payload: dict[str, Any] | None


def storable(value: Any) -> Any:
    """A decoded Clarity value as BSON can hold it: bytes → 0x hex, huge ints → decimal strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -INT64_MAX - 1 <= value <= INT64_MAX else str(value)
    if isinstance(value, dict):
        return {str(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, ResponseOk):
        return {"ok": storable(value.value)}
    if isinstance(value, ResponseErr):
        return {"err": storable(value.value)}
    return value


def _check(name: str, payload: dict[str, Any], source: Source) -> None:
    expected_source, fields = EVENT_FIELDS[name]
    if source != expected_source:
        raise InvalidEvent(f"{name} printed by the {source} contract")
    for field, kind in fields.items():
        value = payload.get(field)
        ok = (
            (kind == "int" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX)
            or (kind == "uint" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value)
            or (kind == "uint" and isinstance(value, str) and value.isascii() and value.isdigit())
            or (kind == "str" and isinstance(value, str) and value != "")
            or (kind == "hex" and isinstance(value, str) and value.startswith("0x"))
        )
        if not ok:
            raise InvalidEvent(f"{name}: field {field!r} missing or malformed ({value!r})")
    if "tier" in fields and payload["tier"] not in TIERS:
        raise InvalidEvent(f"{name}: unknown tier {payload['tier']!r}")
    if name == "policy-created":
        if len(payload["quote-id"]) != 2 + 32:
            raise InvalidEvent("policy-created: quote-id is not 16 bytes")
        if payload["risk-tier"] not in TIERS:
            raise InvalidEvent(f"policy-created: unknown risk tier {payload['risk-tier']!r}")
    if name == "policy-status-updated" and payload["new-status"] not in (1, 2):
        raise InvalidEvent(f"policy-status-updated: new-status {payload['new-status']} is not 1 or 2")


def decode_event(value_hex: str, source: Source) -> DecodedEvent:
    """Decode and validate one print; InvalidEvent for garbage (undecodable, or a known event malformed)."""
    try:
        raw = decode_to_python(value_hex)
    except (ChainError, ValueError) as exc:
        raise InvalidEvent(f"not a Clarity value: {exc}") from None
    if not isinstance(raw, dict):
        return DecodedEvent(None, {"value": storable(raw)})
    payload: dict[str, Any] = storable(raw)
    name = payload.get("event")
    if not isinstance(name, str) or name not in EVENT_FIELDS:
        return DecodedEvent(None, payload)
    _check(name, payload, source)
    return DecodedEvent(name, payload)
