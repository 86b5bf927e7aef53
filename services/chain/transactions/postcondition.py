"""Post-conditions: STX, fungible and non-fungible, wire and wallet JSON forms (``postcondition.ts``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..clarity import ClarityValue, serialize, to_hex
from .constants import FUNGIBLE_CODES, NON_FUNGIBLE_CODES, FungibleComparator, NonFungibleComparator
from .wire import _asset_wire, _principal_wire, _u64


@dataclass(frozen=True, slots=True)
class StxPostCondition:
    """``principal`` is ``'origin'``, ``SP…`` or ``SP….contract``; amount in micro-STX."""

    principal: str
    condition: FungibleComparator
    amount: int

    def __post_init__(self) -> None:
        if self.condition not in FUNGIBLE_CODES:
            raise ValueError(f"unknown STX condition {self.condition!r}")
        _u64(self.amount, "post-condition amount")
        _principal_wire(self.principal)

    def to_wire(self) -> bytes:
        return (
            b"\x00"
            + _principal_wire(self.principal)
            + bytes([FUNGIBLE_CODES[self.condition]])
            + _u64(self.amount, "amount")
        )

    def to_json(self) -> dict[str, str]:
        """The @stacks/transactions v7 form a wallet connector accepts."""
        return {
            "type": "stx-postcondition",
            "address": self.principal,
            "condition": self.condition,
            "amount": str(self.amount),
        }


@dataclass(frozen=True, slots=True)
class FungiblePostCondition:
    principal: str
    condition: FungibleComparator
    amount: int
    asset: str  # ADDRESS.contract::token-name

    def __post_init__(self) -> None:
        if self.condition not in FUNGIBLE_CODES:
            raise ValueError(f"unknown fungible condition {self.condition!r}")
        _u64(self.amount, "post-condition amount")

    def to_wire(self) -> bytes:
        return (
            b"\x01"
            + _principal_wire(self.principal)
            + _asset_wire(self.asset)
            + bytes([FUNGIBLE_CODES[self.condition]])
            + _u64(self.amount, "amount")
        )

    def to_json(self) -> dict[str, str]:
        return {
            "type": "ft-postcondition",
            "address": self.principal,
            "condition": self.condition,
            "amount": str(self.amount),
            "asset": self.asset,
        }


@dataclass(frozen=True, slots=True)
class NonFungiblePostCondition:
    principal: str
    condition: NonFungibleComparator
    asset: str
    asset_id: ClarityValue

    def __post_init__(self) -> None:
        if self.condition not in NON_FUNGIBLE_CODES:
            raise ValueError(f"unknown non-fungible condition {self.condition!r}")

    def to_wire(self) -> bytes:
        return (
            b"\x02"
            + _principal_wire(self.principal)
            + _asset_wire(self.asset)
            + serialize(self.asset_id)
            + bytes([NON_FUNGIBLE_CODES[self.condition]])
        )

    def to_json(self) -> dict[str, str]:
        return {
            "type": "nft-postcondition",
            "address": self.principal,
            "condition": self.condition,
            "asset": self.asset,
            "assetId": to_hex(self.asset_id),
        }


PostCondition = Union[StxPostCondition, FungiblePostCondition, NonFungiblePostCondition]  # noqa: UP007


def stx_post_condition(principal: str, condition: FungibleComparator, amount: int) -> StxPostCondition:
    return StxPostCondition(principal, condition, amount)


def post_condition_to_hex(post_condition: PostCondition) -> str:
    """Hex (no ``0x``) wire form, as ``postConditionToHex`` of @stacks/transactions."""
    return post_condition.to_wire().hex()


def post_condition_to_json(post_condition: PostCondition) -> dict[str, str]:
    return post_condition.to_json()
