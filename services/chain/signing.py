"""secp256k1 recoverable signatures, Stacks message signing and the quote signature.

Two byte orders exist for a 65-byte recoverable signature and both are used on Stacks:
- RSV ``r || s || v``: what coincurve returns, what ``secp256k1-verify`` / ``secp256k1-recover?`` take, and
  what wallets and ``signMessageHashRsv`` (@stacks/transactions) return for message signing;
- VRS ``v || r || s``: the ``MessageSignature`` inside a serialized transaction's spending condition.
``v`` is the recovery id 0..3. Signatures are RFC 6979 deterministic and low-s, like the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact

from .c32 import AddressVersion, address_from_public_key
from .clarity import (
    ClarityBuffer,
    ClarityTuple,
    ClarityValue,
    principal_cv,
    serialize,
    string_ascii_cv,
    uint_cv,
)
from .errors import ClarityEncodeError, SignatureError
from .hashing import sha256

MESSAGE_PREFIX = "\x17Stacks Signed Message:\n"
LEGACY_MESSAGE_PREFIX = "\x18Stacks Message Signing:\n"
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class HashSigner(Protocol):
    """Anything that signs a 32-byte hash into a 65-byte RSV signature without exposing its key."""

    def sign_hash_rsv(self, message_hash: bytes) -> bytes: ...


def _check_hash(message_hash: bytes) -> None:
    if not isinstance(message_hash, bytes) or len(message_hash) != 32:
        raise SignatureError("message hash must be 32 bytes")


def sign_hash_rsv(private_key: bytes, message_hash: bytes) -> bytes:
    """65 bytes r || s || recovery id (low-s, deterministic)."""
    _check_hash(message_hash)
    return bytes(coincurve.PrivateKey(private_key[:32]).sign_recoverable(message_hash, hasher=None))


def rsv_to_vrs(signature: bytes) -> bytes:
    _check_signature(signature)
    return signature[64:] + signature[:64]


def vrs_to_rsv(signature: bytes) -> bytes:
    if len(signature) != 65:
        raise SignatureError("recoverable signature must be 65 bytes")
    return signature[1:] + signature[:1]


def _check_signature(signature: bytes) -> None:
    if not isinstance(signature, bytes) or len(signature) != 65:
        raise SignatureError("recoverable signature must be 65 bytes")
    if signature[64] > 3:
        raise SignatureError("recovery id must be 0..3")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N):
        raise SignatureError("signature r/s out of range")


def recover_public_key(message_hash: bytes, signature_rsv: bytes, *, compressed: bool = True) -> bytes:
    """The public key that produced ``signature_rsv`` over ``message_hash``."""
    _check_hash(message_hash)
    _check_signature(signature_rsv)
    try:
        key = coincurve.PublicKey.from_signature_and_message(signature_rsv, message_hash, hasher=None)
    except Exception as exc:  # coincurve raises bare Exception/ValueError on unrecoverable input
        raise SignatureError("signature does not recover to a public key") from exc
    return bytes(key.format(compressed=compressed))


def verify_hash_rsv(message_hash: bytes, signature_rsv: bytes, public_key: bytes) -> bool:
    """True when the signature (its r, s; low-s only, like ``secp256k1-verify``) is valid for the key."""
    try:
        _check_hash(message_hash)
        _check_signature(signature_rsv)
        if int.from_bytes(signature_rsv[32:64], "big") > _SECP256K1_N // 2:
            return False
        der = cdata_to_der(deserialize_compact(signature_rsv[:64]))
        return bool(coincurve.PublicKey(public_key).verify(der, message_hash, hasher=None))
    except (SignatureError, ValueError, TypeError):
        return False
    except Exception:  # coincurve's errors on malformed keys
        return False


# Stacks message signing (wallet sign-in) ------------------------------------------------------------------


def encode_varint(n: int) -> bytes:
    """Bitcoin CompactSize, little-endian."""
    if n < 0:
        raise ValueError("varint of a negative number")
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def encode_message(message: str | bytes, prefix: str = MESSAGE_PREFIX) -> bytes:
    body = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return prefix.encode("utf-8") + encode_varint(len(body)) + body


def hash_message(message: str | bytes, prefix: str = MESSAGE_PREFIX) -> bytes:
    """sha256(prefix || varint(len) || message), as @stacks/encryption's ``hashMessage``."""
    return sha256(encode_message(message, prefix))


def _parse_signature_hex(signature: str | bytes) -> bytes:
    if isinstance(signature, bytes):
        return signature
    text = signature[2:] if signature[:2] in ("0x", "0X") else signature
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise SignatureError("signature is not hex") from exc


def sign_message(signer: HashSigner | bytes, message: str | bytes, prefix: str = MESSAGE_PREFIX) -> str:
    """Hex RSV signature of a Stacks message (what wallets return for ``stx_signMessage``)."""
    message_hash = hash_message(message, prefix)
    if isinstance(signer, bytes):
        return sign_hash_rsv(signer, message_hash).hex()
    return signer.sign_hash_rsv(message_hash).hex()


def recover_message_public_key(message: str | bytes, signature: str | bytes, prefix: str = MESSAGE_PREFIX) -> bytes:
    return recover_public_key(hash_message(message, prefix), _parse_signature_hex(signature))


def verify_message_signature(
    message: str | bytes, signature: str | bytes, public_key: bytes | str, prefix: str = MESSAGE_PREFIX
) -> bool:
    try:
        key = bytes.fromhex(public_key) if isinstance(public_key, str) else public_key
        sig = _parse_signature_hex(signature)
    except (ValueError, SignatureError):
        return False
    return verify_hash_rsv(hash_message(message, prefix), sig, key)


def message_signer_address(
    message: str | bytes,
    signature: str | bytes,
    version: int = AddressVersion.MAINNET_SINGLE_SIG,
    prefix: str = MESSAGE_PREFIX,
) -> str:
    """The single-sig address whose (compressed) key signed ``message``; for sign-in checks."""
    return address_from_public_key(recover_message_public_key(message, signature, prefix), version)


# The quote signature (see .coord/QUOTE.md and contracts/README.md) -----------------------------------------


@dataclass(frozen=True, slots=True)
class QuoteTerms:
    """The terms ``create-policy-entry`` rebuilds into the signed tuple (units per DESIGN §4)."""

    registry: str  # contract principal of policy-registry
    quote_id: bytes  # 16 bytes
    owner: str  # the buyer's principal (tx-sender)
    protected_value_usd8: int
    protected_amount_sats: int
    expiration_height: int
    policy_type: str
    premium_ustx: int
    collateral_ustx: int
    risk_tier: str
    quote_expiry_height: int

    def __post_init__(self) -> None:
        if not isinstance(self.quote_id, bytes) or len(self.quote_id) != 16:
            raise ClarityEncodeError("quote_id must be 16 bytes")
        if len(self.policy_type) > 4:
            raise ClarityEncodeError("policy_type is (string-ascii 4)")
        if len(self.risk_tier) > 12:
            raise ClarityEncodeError("risk_tier is (string-ascii 12)")

    def to_clarity(self) -> ClarityTuple:
        fields: dict[str, ClarityValue] = {
            "registry": principal_cv(self.registry),
            "quote-id": ClarityBuffer(self.quote_id),
            "owner": principal_cv(self.owner),
            "protected-value-usd8": uint_cv(self.protected_value_usd8),
            "protected-amount-sats": uint_cv(self.protected_amount_sats),
            "expiration-height": uint_cv(self.expiration_height),
            "policy-type": string_ascii_cv(self.policy_type),
            "premium-ustx": uint_cv(self.premium_ustx),
            "collateral-ustx": uint_cv(self.collateral_ustx),
            "risk-tier": string_ascii_cv(self.risk_tier),
            "quote-expiry-height": uint_cv(self.quote_expiry_height),
        }
        return ClarityTuple.of(fields)

    def entry_args(self, signature: bytes) -> list[ClarityValue]:
        """``create-policy-entry``'s arguments in the contract's order: the terms, then the quote signature."""
        return [
            ClarityBuffer(self.quote_id),
            uint_cv(self.protected_value_usd8),
            uint_cv(self.protected_amount_sats),
            uint_cv(self.expiration_height),
            string_ascii_cv(self.policy_type),
            uint_cv(self.premium_ustx),
            uint_cv(self.collateral_ustx),
            string_ascii_cv(self.risk_tier),
            uint_cv(self.quote_expiry_height),
            ClarityBuffer(signature),
        ]


def quote_message_hash(terms: QuoteTerms) -> bytes:
    """sha256(to-consensus-buff? tuple): what ``create-policy-entry`` verifies."""
    return sha256(serialize(terms.to_clarity()))


def sign_quote(signer: HashSigner | bytes, terms: QuoteTerms) -> bytes:
    """65-byte RSV signature over :func:`quote_message_hash`, the ``quote-signature`` argument."""
    message_hash = quote_message_hash(terms)
    if isinstance(signer, bytes):
        return sign_hash_rsv(signer, message_hash)
    return signer.sign_hash_rsv(message_hash)


def verify_quote(terms: QuoteTerms, signature: bytes, quote_signer_public_key: bytes) -> bool:
    """What the contract's ``secp256k1-verify`` checks."""
    return verify_hash_rsv(quote_message_hash(terms), signature, quote_signer_public_key)
