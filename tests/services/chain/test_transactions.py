"""Transactions built, signed, serialized and parsed in Python (conformance with the reference is in
test_reference_vectors.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.chain.clarity import ClarityValue, buff_cv, principal_cv, string_ascii_cv, uint_cv
from services.chain.errors import SignatureError, TransactionDecodeError
from services.chain.hashing import sha512_256
from services.chain.signer import BackendSigner
from services.chain.transactions import (
    MAINNET,
    TESTNET,
    AnchorMode,
    ContractCallPayload,
    FungiblePostCondition,
    NonFungiblePostCondition,
    PostConditionMode,
    SingleSigSpendingCondition,
    StacksTransaction,
    StxPostCondition,
    TokenTransferPayload,
    deserialize_transaction,
    make_contract_call,
    network_from,
    post_condition_to_hex,
    prepare_contract_call,
    verify_origin_signature,
)

SIGNER = BackendSigner.from_hex("edf9aee84d9b7abc145504dde6726c64f369d37ee34ded868fabd876c26570bc01")
REGISTRY = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.policy-registry"


def _call(**kw: object) -> StacksTransaction:
    args: dict[str, object] = dict(
        contract_address="SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
        contract_name="policy-registry",
        function_name="update-policy-status",
        function_args=[uint_cv(1), uint_cv(2), uint_cv(0), uint_cv(0)],
        signer=SIGNER,
        nonce=3,
        fee=1000,
    )
    args.update(kw)
    return make_contract_call(**args)  # type: ignore[arg-type]


def test_layout_of_a_signed_contract_call() -> None:
    tx = _call()
    raw = tx.serialize()
    assert raw[0] == 0x00 and raw[1:5] == b"\x00\x00\x00\x01"  # mainnet version, chain id
    assert raw[5] == 0x04 and raw[6] == 0x00  # standard auth, P2PKH
    assert raw[27:35] == (3).to_bytes(8, "big") and raw[35:43] == (1000).to_bytes(8, "big")
    assert raw[43] == 0x00  # compressed key
    assert raw[109] == AnchorMode.ANY and raw[110] == PostConditionMode.DENY
    assert raw[111:115] == b"\x00\x00\x00\x00"
    assert raw[115] == 0x02  # contract call
    assert tx.txid() == "0x" + sha512_256(raw).hex()
    assert verify_origin_signature(tx)
    assert tx.origin_address() == SIGNER.address


def test_testnet_versions() -> None:
    signer = BackendSigner.from_hex("edf9aee84d9b7abc145504dde6726c64f369d37ee34ded868fabd876c26570bc01", "testnet")
    tx = _call(network="testnet", signer=signer)
    raw = tx.serialize()
    assert raw[0] == 0x80 and raw[1:5] == b"\x80\x00\x00\x00"
    assert tx.origin_address() == signer.address and signer.address.startswith("ST")
    assert network_from("devnet") is TESTNET and network_from(MAINNET) is MAINNET
    with pytest.raises(ValueError):
        network_from("moonnet")


def test_round_trip_with_every_post_condition_kind() -> None:
    pcs = [
        StxPostCondition(SIGNER.address, "eq", 5),
        StxPostCondition("origin", "lte", 2**64 - 1),
        StxPostCondition(REGISTRY, "gt", 0),
        FungiblePostCondition(SIGNER.address, "gte", 10, "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.token::tok"),
        NonFungiblePostCondition(REGISTRY, "not-sent", "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.nft::n", uint_cv(9)),
    ]
    tx = _call(post_conditions=pcs, post_condition_mode=PostConditionMode.ALLOW)
    parsed = deserialize_transaction(tx.serialize_hex())
    assert parsed == tx
    assert list(parsed.post_conditions) == pcs
    assert verify_origin_signature(parsed)


def test_stx_post_condition_wire_and_json() -> None:
    pc = StxPostCondition(SIGNER.address, "eq", 1234)
    wire = bytes.fromhex(post_condition_to_hex(pc))
    assert wire[0] == 0x00 and wire[1] == 0x02 and wire[23] == 0x01
    assert wire[24:] == (1234).to_bytes(8, "big")
    assert pc.to_json() == {"type": "stx-postcondition", "address": SIGNER.address, "condition": "eq", "amount": "1234"}
    for bad in ({"condition": "ne"}, {"amount": -1}, {"amount": 2**64}, {"principal": "SPX"}):
        with pytest.raises(ValueError):
            replace(pc, **bad)


def test_tampering_breaks_the_signature() -> None:
    tx = _call()
    assert not verify_origin_signature(replace(tx, origin=replace(tx.origin, nonce=4)))
    assert not verify_origin_signature(replace(tx, origin=replace(tx.origin, fee=999)))
    payload = tx.payload
    assert isinstance(payload, ContractCallPayload)
    forged = replace(tx, payload=replace(payload, function_args=(uint_cv(1), uint_cv(1), uint_cv(9), uint_cv(0))))
    assert not verify_origin_signature(forged)


def test_signer_must_match_origin() -> None:
    from services.chain.transactions import make_unsigned_contract_call, sign_transaction

    other = BackendSigner.from_hex("01" * 32)
    tx = make_unsigned_contract_call(
        contract_address="SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
        contract_name="c",
        function_name="f",
        function_args=[],
        public_key=SIGNER.public_key,
        nonce=0,
        fee=0,
    )
    assert not verify_origin_signature(tx)  # unsigned
    with pytest.raises(SignatureError):
        sign_transaction(tx, other)
    assert verify_origin_signature(sign_transaction(tx, SIGNER))
    with pytest.raises(SignatureError):
        make_unsigned_contract_call(
            contract_address="SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", contract_name="c", function_name="f",
            function_args=[], public_key=b"\x04" + b"\x01" * 64, nonce=0, fee=0,
        )  # fmt: skip


def test_parses_token_transfers_and_sponsored_auth() -> None:
    origin = SingleSigSpendingCondition(signer=b"\x11" * 20, nonce=1, fee=0)
    sponsor = SingleSigSpendingCondition(signer=b"\x22" * 20, nonce=9, fee=300)
    tx = StacksTransaction(
        version=0x80, chain_id=0x80000000, origin=origin, sponsor=sponsor,
        payload=TokenTransferPayload("ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG", 500, b"memo"),
    )  # fmt: skip
    parsed = deserialize_transaction(tx.serialize())
    assert parsed.sponsor == sponsor and parsed.fee == 300 and parsed.nonce == 1
    assert isinstance(parsed.payload, TokenTransferPayload) and parsed.payload.amount == 500
    assert parsed.payload.memo == b"memo".ljust(34, b"\x00")
    assert not verify_origin_signature(parsed)


def test_prepared_contract_call_for_the_wallet() -> None:
    owner = SIGNER.address
    args: list[ClarityValue] = [buff_cv(b"\x01" * 16), uint_cv(5), string_ascii_cv("PUT"), principal_cv(owner)]
    prepared = prepare_contract_call(
        contract_id=REGISTRY,
        function_name="create-policy-entry",
        function_args=args,
        post_conditions=[StxPostCondition(owner, "eq", 777)],
        network="mainnet",
    )
    js = prepared.to_wallet_json()
    assert js == {
        "contractAddress": "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
        "contractName": "policy-registry",
        "functionName": "create-policy-entry",
        "functionArgs": ["0x020000001001010101010101010101010101010101", "0x01" + "00" * 15 + "05",
                         "0x0d00000003505554", "0x05" + "16" + SIGNER_HASH],
        "postConditions": [{"type": "stx-postcondition", "address": owner, "condition": "eq", "amount": "777"}],
        "postConditionMode": "deny",
        "network": "mainnet",
    }  # fmt: skip
    # a wallet-signed transaction of exactly that call matches; any change is reported
    signed = make_contract_call(
        contract_address=prepared.contract_address, contract_name=prepared.contract_name,
        function_name=prepared.function_name, function_args=prepared.function_args, signer=SIGNER, nonce=0,
        fee=300, post_conditions=prepared.post_conditions,
    )  # fmt: skip
    assert prepared.mismatches(deserialize_transaction(signed.serialize())) == []
    tampered = replace(signed, post_condition_mode=PostConditionMode.ALLOW, post_conditions=())
    assert prepared.mismatches(tampered) == ["post-condition mode", "post-conditions"]


SIGNER_HASH = __import__("services.chain.c32", fromlist=["decode_address"]).decode_address(SIGNER.address).hash160.hex()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_the_decode_error(raw: bytes) -> None:
    try:
        deserialize_transaction(raw)
    except TransactionDecodeError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_truncated_and_mutated_transactions(data: st.DataObject) -> None:
    raw = bytearray(_call(post_conditions=[StxPostCondition(SIGNER.address, "eq", 5)]).serialize())
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(TransactionDecodeError):
        deserialize_transaction(bytes(raw[:cut]))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        tx = deserialize_transaction(bytes(raw))
    except TransactionDecodeError:
        return
    assert tx.serialize() == bytes(raw) or not verify_origin_signature(tx)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: b"\x01" + r[1:], "transaction version"),
        (lambda r: r[:5] + b"\x07" + r[6:], "auth type"),
        (lambda r: r[:6] + b"\x09" + r[7:], "hash mode"),
        (lambda r: r[:109] + b"\x09" + r[110:], "anchor mode"),
        (lambda r: r[:110] + b"\x09" + r[111:], "post-condition mode"),
        (lambda r: r[:111] + b"\xff\xff\xff\xff" + r[115:], "post-condition count"),
        (lambda r: r[:115] + b"\x09" + r[116:], "payload type"),
        (lambda r: r + b"\x00", "trailing"),
        (lambda r: "zz", "hex"),
    ],
)
def test_hostile_transaction_bytes(mutate: object, message: str) -> None:
    raw = _call().serialize()
    with pytest.raises(TransactionDecodeError, match=message):
        deserialize_transaction(mutate(raw))  # type: ignore[operator]
