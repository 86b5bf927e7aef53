"""Spending conditions, single- and multi-signature (``authorization.ts``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Union

from .constants import HashMode, PubKeyEncoding
from .wire import _u64

EMPTY_SIGNATURE = b"\x00" * 65


@dataclass(frozen=True, slots=True)
class SingleSigSpendingCondition:
    signer: bytes  # hash160 of the public key
    nonce: int
    fee: int
    signature: bytes = EMPTY_SIGNATURE  # VRS, as on the wire
    hash_mode: int = HashMode.P2PKH
    key_encoding: int = PubKeyEncoding.COMPRESSED

    def to_wire(self) -> bytes:
        return (
            bytes([self.hash_mode])
            + self.signer
            + _u64(self.nonce, "nonce")
            + _u64(self.fee, "fee")
            + bytes([self.key_encoding])
            + self.signature
        )

    def cleared(self) -> SingleSigSpendingCondition:
        return replace(self, nonce=0, fee=0, signature=EMPTY_SIGNATURE)


@dataclass(frozen=True, slots=True)
class AuthField:
    """Multisig field: 0x00/0x01 public key (compressed/uncompressed), 0x02/0x03 signature."""

    kind: int
    data: bytes


@dataclass(frozen=True, slots=True)
class MultiSigSpendingCondition:
    hash_mode: int
    signer: bytes
    nonce: int
    fee: int
    fields: tuple[AuthField, ...]
    signatures_required: int

    def to_wire(self) -> bytes:
        out = bytearray([self.hash_mode])
        out += self.signer + _u64(self.nonce, "nonce") + _u64(self.fee, "fee")
        out += len(self.fields).to_bytes(4, "big")
        for f in self.fields:
            out.append(f.kind)
            out += f.data
        out += self.signatures_required.to_bytes(2, "big")
        return bytes(out)

    def cleared(self) -> MultiSigSpendingCondition:
        return replace(self, nonce=0, fee=0, fields=())


SpendingCondition = Union[SingleSigSpendingCondition, MultiSigSpendingCondition]  # noqa: UP007
