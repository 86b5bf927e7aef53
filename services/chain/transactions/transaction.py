"""The transaction: wire form, txid, sighashes (``transaction.ts``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..c32 import StacksAddress
from ..errors import SignatureError
from ..hashing import sha512_256
from .authorization import SpendingCondition
from .constants import MULTI_SIG_MODES, AnchorMode, AuthType, PostConditionMode
from .network import MAINNET, TESTNET
from .payload import Payload
from .postcondition import PostCondition
from .wire import _u64


@dataclass(frozen=True, slots=True)
class StacksTransaction:
    version: int
    chain_id: int
    origin: SpendingCondition
    payload: Payload
    anchor_mode: int = AnchorMode.ANY
    post_condition_mode: int = PostConditionMode.DENY
    post_conditions: tuple[PostCondition, ...] = field(default=())
    sponsor: SpendingCondition | None = None

    @property
    def auth_type(self) -> AuthType:
        return AuthType.STANDARD if self.sponsor is None else AuthType.SPONSORED

    @property
    def is_mainnet(self) -> bool:
        return self.version == MAINNET.transaction_version

    @property
    def nonce(self) -> int:
        return self.origin.nonce

    @property
    def fee(self) -> int:
        return (self.sponsor or self.origin).fee

    def _auth_wire(self, origin: SpendingCondition, sponsor: SpendingCondition | None) -> bytes:
        if sponsor is None:
            return bytes([AuthType.STANDARD]) + origin.to_wire()
        return bytes([AuthType.SPONSORED]) + origin.to_wire() + sponsor.to_wire()

    def _wire(self, origin: SpendingCondition, sponsor: SpendingCondition | None) -> bytes:
        out = bytearray([self.version])
        out += self.chain_id.to_bytes(4, "big")
        out += self._auth_wire(origin, sponsor)
        out.append(self.anchor_mode)
        out.append(self.post_condition_mode)
        out += len(self.post_conditions).to_bytes(4, "big")
        for pc in self.post_conditions:
            out += pc.to_wire()
        out += self.payload.to_wire()
        return bytes(out)

    def serialize(self) -> bytes:
        return self._wire(self.origin, self.sponsor)

    def serialize_hex(self) -> str:
        return self.serialize().hex()

    def txid(self) -> str:
        """sha512/256 of the signed serialization, as ``0x`` + hex (the form Hiro's API uses everywhere)."""
        return "0x" + sha512_256(self.serialize()).hex()

    def initial_sighash(self) -> bytes:
        if self.sponsor is not None:
            raise SignatureError("signing sponsored transactions is not supported")
        return sha512_256(self._wire(self.origin.cleared(), None))

    def origin_address(self) -> str:
        """The sender's address, with the version implied by the transaction's network and hash mode."""
        multisig = self.origin.hash_mode in MULTI_SIG_MODES
        if self.is_mainnet:
            version = MAINNET.multi_sig_version if multisig else MAINNET.single_sig_version
        else:
            version = TESTNET.multi_sig_version if multisig else TESTNET.single_sig_version
        return str(StacksAddress(version, self.origin.signer))


def presign_sighash(current: bytes, auth_type: int, fee: int, nonce: int) -> bytes:
    return sha512_256(current + bytes([auth_type]) + _u64(fee, "fee") + _u64(nonce, "nonce"))


def postsign_sighash(presign: bytes, key_encoding: int, signature_vrs: bytes) -> bytes:
    return sha512_256(presign + bytes([key_encoding]) + signature_vrs)
