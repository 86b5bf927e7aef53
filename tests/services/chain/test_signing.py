"""Recoverable signatures, Stacks message signing (recorded @stacks/encryption vectors) and the quote."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import coincurve
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.chain.c32 import address_from_public_key
from services.chain.clarity import serialize
from services.chain.errors import ClarityEncodeError, SignatureError
from services.chain.hashing import sha256
from services.chain.signing import (
    MESSAGE_PREFIX,
    QuoteTerms,
    encode_message,
    encode_varint,
    hash_message,
    message_signer_address,
    quote_message_hash,
    recover_message_public_key,
    recover_public_key,
    rsv_to_vrs,
    sign_hash_rsv,
    sign_message,
    sign_quote,
    verify_hash_rsv,
    verify_message_signature,
    verify_quote,
    vrs_to_rsv,
)

RECORDED = json.loads((Path(__file__).parent / "vectors" / "message_signatures.json").read_text())
KEY = bytes.fromhex("edf9aee84d9b7abc145504dde6726c64f369d37ee34ded868fabd876c26570bc")
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.mark.parametrize("vector", RECORDED["vectors"], ids=lambda v: f"len{len(v['message'])}")
def test_recorded_message_vectors(vector: dict[str, str]) -> None:
    message = vector["message"]
    assert hash_message(message).hex() == vector["hash"]
    assert sign_message(KEY, message) == vector["signature"]
    assert recover_message_public_key(message, vector["signature"]).hex() == vector["publicKey"]
    assert verify_message_signature(message, vector["signature"], vector["publicKey"])
    assert verify_message_signature(message, "0x" + vector["signature"], bytes.fromhex(vector["publicKey"]))
    assert not verify_message_signature(message + "!", vector["signature"], vector["publicKey"])


def test_message_signature_is_rsv() -> None:
    """signMessageHashRsv: r || s || v, v the recovery id in the last byte."""
    sig = bytes.fromhex(sign_message(KEY, "hello"))
    assert len(sig) == 65 and sig[64] in (0, 1, 2, 3)
    h = hash_message("hello")
    key = coincurve.PrivateKey(KEY)
    assert sig == key.sign_recoverable(h, hasher=None)
    assert recover_public_key(h, sig) == key.public_key.format(compressed=True)


def test_message_encoding() -> None:
    assert MESSAGE_PREFIX == "\x17Stacks Signed Message:\n"
    assert encode_message("ab") == b"\x17Stacks Signed Message:\n\x02ab"
    assert encode_varint(0xFC) == b"\xfc"
    assert encode_varint(0xFD) == b"\xfd\xfd\x00"
    assert encode_varint(0x10000) == b"\xfe\x00\x00\x01\x00"
    assert encode_varint(2**32) == b"\xff\x00\x00\x00\x00\x01\x00\x00\x00"
    assert hash_message(b"\x00\xff") == sha256(MESSAGE_PREFIX.encode() + b"\x02\x00\xff")


def test_sign_in_address_from_signature() -> None:
    sig = sign_message(KEY, "BitHedge sign-in 123")
    expected = address_from_public_key(coincurve.PrivateKey(KEY).public_key.format(compressed=True))
    assert message_signer_address("BitHedge sign-in 123", sig) == expected
    assert message_signer_address("BitHedge sign-in 124", sig) != expected


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(1, N - 1))
def test_sign_recover_verify(message_hash: bytes, secret: int) -> None:
    key = secret.to_bytes(32, "big")
    sig = sign_hash_rsv(key, message_hash)
    public = coincurve.PrivateKey(key).public_key.format(compressed=True)
    assert int.from_bytes(sig[32:64], "big") <= N // 2  # low-s
    assert recover_public_key(message_hash, sig) == public
    assert verify_hash_rsv(message_hash, sig, public)
    assert vrs_to_rsv(rsv_to_vrs(sig)) == sig
    assert rsv_to_vrs(sig)[0] == sig[64]


def test_verify_refuses_bad_signatures() -> None:
    h = sha256(b"x")
    sig = sign_hash_rsv(KEY, h)
    public = coincurve.PrivateKey(KEY).public_key.format(compressed=True)
    high_s = sig[:32] + (N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    assert not verify_hash_rsv(h, high_s, public)  # secp256k1-verify refuses high-s
    assert not verify_hash_rsv(sha256(b"y"), sig, public)
    assert not verify_hash_rsv(h, sig[:64], public)
    assert not verify_hash_rsv(h, sig, b"\x02" + b"\x00" * 32)
    assert not verify_hash_rsv(h, b"\x00" * 65, public)
    assert not verify_message_signature("m", "zz", public)
    for bad in (sig[:64], sig[:64] + b"\x04", b"\x00" * 65):
        with pytest.raises(SignatureError):
            recover_public_key(h, bad)
    with pytest.raises(SignatureError):
        recover_public_key(h[:31], sig)


TERMS = QuoteTerms(
    registry="SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.policy-registry",
    quote_id=bytes(range(16)),
    owner="SP3FBR2AGK5H9QBDH3EEN6DF8EK8JY7RX8QJ5SVTE",
    protected_value_usd8=6_500_000_000_000,
    protected_amount_sats=25_000_000,
    expiration_height=880_000,
    policy_type="PUT",
    premium_ustx=12_345_678,
    collateral_ustx=987_654_321,
    risk_tier="Balanced",
    quote_expiry_height=870_006,
)


def test_quote_tuple_layout_matches_quote_md() -> None:
    raw = serialize(TERMS.to_clarity())
    assert raw[:5] == b"\x0c\x00\x00\x00\x0b"  # tuple of 11 fields
    names = [name for name, _ in TERMS.to_clarity().fields]
    assert names == sorted(names, key=str.encode)
    assert names == [
        "collateral-ustx", "expiration-height", "owner", "policy-type", "premium-ustx", "protected-amount-sats",
        "protected-value-usd8", "quote-expiry-height", "quote-id", "registry", "risk-tier",
    ]  # fmt: skip
    assert quote_message_hash(TERMS) == sha256(raw)


def test_quote_signature_verifies_and_binds_every_term() -> None:
    sig = sign_quote(KEY, TERMS)
    public = coincurve.PrivateKey(KEY).public_key.format(compressed=True)
    assert len(sig) == 65
    assert sig == coincurve.PrivateKey(KEY).sign_recoverable(quote_message_hash(TERMS), hasher=None)
    assert verify_quote(TERMS, sig, public)
    for change in (
        {"premium_ustx": TERMS.premium_ustx - 1},
        {"owner": "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"},
        {"quote_id": bytes(16)},
        {"risk_tier": "Aggressive"},
        {"registry": "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.other"},
    ):
        assert not verify_quote(replace(TERMS, **change), sig, public)


def test_quote_terms_validation() -> None:
    with pytest.raises(ClarityEncodeError):
        replace(TERMS, quote_id=b"\x00" * 15)
    with pytest.raises(ClarityEncodeError):
        replace(TERMS, policy_type="PUTS!")
    with pytest.raises(ClarityEncodeError):
        replace(TERMS, risk_tier="Conservative+")
    with pytest.raises(ClarityEncodeError):
        replace(TERMS, premium_ustx=-1).to_clarity()
