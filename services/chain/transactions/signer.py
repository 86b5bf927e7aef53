"""Signing a single-sig origin and checking its signature (``signer.ts``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from ..errors import SignatureError
from ..hashing import hash160
from ..signing import recover_public_key, rsv_to_vrs, vrs_to_rsv
from .authorization import SingleSigSpendingCondition
from .constants import AuthType, HashMode, PubKeyEncoding
from .transaction import StacksTransaction, presign_sighash


class TransactionSigner(Protocol):
    """A key holder: signs a 32-byte hash (RSV) and tells its compressed public key."""

    @property
    def public_key(self) -> bytes: ...

    def sign_hash_rsv(self, message_hash: bytes) -> bytes: ...


def sign_transaction(tx: StacksTransaction, signer: TransactionSigner) -> StacksTransaction:
    """Sign a single-sig standard transaction's origin; returns the signed copy."""
    origin = tx.origin
    if not isinstance(origin, SingleSigSpendingCondition) or tx.sponsor is not None:
        raise SignatureError("only single-signature, non-sponsored transactions can be signed here")
    public_key = signer.public_key
    if len(public_key) != 33 or hash160(public_key) != origin.signer:
        raise SignatureError("the signer's key does not match the transaction's origin")
    presign = presign_sighash(tx.initial_sighash(), AuthType.STANDARD, origin.fee, origin.nonce)
    signature = rsv_to_vrs(signer.sign_hash_rsv(presign))
    return replace(tx, origin=replace(origin, signature=signature))


def verify_origin_signature(tx: StacksTransaction) -> bool:
    """Does the single-sig origin signature recover to the key whose hash160 is the origin signer?"""
    origin = tx.origin
    if not isinstance(origin, SingleSigSpendingCondition) or tx.sponsor is not None:
        return False
    if origin.hash_mode != HashMode.P2PKH:
        return False
    try:
        presign = presign_sighash(tx.initial_sighash(), AuthType.STANDARD, origin.fee, origin.nonce)
        public_key = recover_public_key(
            presign,
            vrs_to_rsv(origin.signature),
            compressed=origin.key_encoding == PubKeyEncoding.COMPRESSED,
        )
    except SignatureError:
        return False
    return hash160(public_key) == origin.signer
