"""Clarity codec: round trips, exact bytes, the plain-Python view and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.chain.clarity import (
    MAX_DEPTH,
    ClarityBuffer,
    ClarityContractPrincipal,
    ClarityInt,
    ClarityList,
    ClarityNone,
    ClarityOk,
    ClaritySome,
    ClarityTuple,
    ClarityUInt,
    ClarityValue,
    ResponseErr,
    ResponseOk,
    bool_cv,
    buff_cv,
    decode_to_python,
    deserialize,
    err_cv,
    int_cv,
    list_cv,
    none_cv,
    ok_cv,
    principal_cv,
    serialize,
    some_cv,
    string_ascii_cv,
    string_utf8_cv,
    to_hex,
    to_python,
    tuple_cv,
    uint_cv,
)
from services.chain.errors import ClarityDecodeError, ClarityEncodeError

from .strategies import clarity_values

P = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"


@settings(max_examples=300, deadline=None)
@given(clarity_values())
def test_round_trip(value: ClarityValue) -> None:
    raw = serialize(value)
    assert deserialize(raw) == value
    assert deserialize(raw.hex()) == value
    assert deserialize("0x" + raw.hex()) == value
    assert serialize(deserialize(raw)) == raw


@settings(max_examples=200, deadline=None)
@given(clarity_values(), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(value: ClarityValue, extra: bytes) -> None:
    with pytest.raises(ClarityDecodeError):
        deserialize(serialize(value) + extra)


@settings(max_examples=200, deadline=None)
@given(clarity_values(), st.data())
def test_every_truncation_is_a_decode_error(value: ClarityValue, data: st.DataObject) -> None:
    raw = serialize(value)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ClarityDecodeError):
        deserialize(raw[:cut])


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_the_codec_error(raw: bytes) -> None:
    try:
        value = deserialize(raw)
    except ClarityDecodeError:
        return
    assert isinstance(serialize(value), bytes)


def test_known_encodings() -> None:
    assert to_hex(int_cv(-1)) == "0x00" + "ff" * 16
    assert to_hex(uint_cv(1)) == "0x01" + "00" * 15 + "01"
    assert to_hex(buff_cv(b"\xde\xad")) == "0x0200000002dead"
    assert to_hex(bool_cv(True)) == "0x03" and to_hex(bool_cv(False)) == "0x04"
    assert to_hex(principal_cv(P)) == "0x0516a46ff88886c2ef9762d970b4d2c63678835bd39d"
    assert to_hex(principal_cv(P + ".foo")) == "0x0616a46ff88886c2ef9762d970b4d2c63678835bd39d03666f6f"
    assert to_hex(ok_cv(none_cv())) == "0x0709"
    assert to_hex(err_cv(some_cv(bool_cv(True)))) == "0x080a03"
    assert to_hex(list_cv([])) == "0x0b00000000"
    assert to_hex(string_ascii_cv("PUT")) == "0x0d00000003505554"
    assert to_hex(string_utf8_cv("é")) == "0x0e00000002c3a9"
    # keys sorted by bytes whatever the insertion order
    t = tuple_cv({"b": uint_cv(2), "a": uint_cv(1)})
    assert [k for k, _ in t.fields] == ["a", "b"]
    assert serialize(t).startswith(bytes.fromhex("0c00000002016101"))


def test_to_python_gives_plain_values_for_event_handling() -> None:
    event = tuple_cv(
        {
            "event": string_ascii_cv("policy-created"),
            "policy-id": uint_cv(7),
            "owner": principal_cv(P),
            "counterparty": principal_cv(P + ".liquidity-pool-vault"),
            "quote-id": buff_cv(b"\x01" * 16),
            "delta": int_cv(-3),
            "memo": some_cv(string_utf8_cv("ok ☃")),
            "nothing": none_cv(),
            "flags": list_cv([bool_cv(True), bool_cv(False)]),
            "result": ok_cv(uint_cv(1)),
            "failure": err_cv(uint_cv(108)),
        }
    )
    assert decode_to_python(to_hex(event)) == {
        "event": "policy-created",
        "policy-id": 7,
        "owner": P,
        "counterparty": P + ".liquidity-pool-vault",
        "quote-id": b"\x01" * 16,
        "delta": -3,
        "memo": "ok ☃",
        "nothing": None,
        "flags": [True, False],
        "result": ResponseOk(1),
        "failure": ResponseErr(108),
    }
    assert to_python(event)["policy-id"] == 7


def test_tuple_after_a_principal_decodes_correctly() -> None:
    # the bug of the PyPI library this replaces: fields after a principal were mis-read
    value = tuple_cv({"a": principal_cv(P + ".c"), "b": principal_cv(P), "c": uint_cv(5)})
    assert to_python(deserialize(serialize(value))) == {"a": P + ".c", "b": P, "c": 5}


@pytest.mark.parametrize(
    "make",
    [
        lambda: int_cv(2**127),
        lambda: int_cv(-(2**127) - 1),
        lambda: uint_cv(-1),
        lambda: uint_cv(2**128),
        lambda: uint_cv(True),
        lambda: string_ascii_cv("é"),
        lambda: string_ascii_cv("\x00"),
        lambda: string_utf8_cv("\ud800"),
        lambda: principal_cv("SP123"),
        lambda: principal_cv(P + ".1bad"),
        lambda: tuple_cv({}),
        lambda: tuple_cv({"bad key": uint_cv(1)}),
        lambda: tuple_cv({"x" * 129: uint_cv(1)}),
        lambda: ClarityBuffer("not bytes"),  # type: ignore[arg-type]
        lambda: ClarityContractPrincipal(22, b"\x00" * 19, "c"),
    ],
)
def test_invalid_python_values_are_refused(make: object) -> None:
    with pytest.raises(ClarityEncodeError):
        make()  # type: ignore[operator]


def _nest(depth: int) -> ClarityValue:
    value: ClarityValue = uint_cv(1)
    for _ in range(depth):
        value = ClaritySome(value)
    return value


def test_depth_limit_both_ways() -> None:
    assert deserialize(serialize(_nest(MAX_DEPTH))) == _nest(MAX_DEPTH)
    with pytest.raises(ClarityEncodeError):
        serialize(_nest(MAX_DEPTH + 1))
    with pytest.raises(ClarityDecodeError, match="deeper"):
        deserialize(b"\x0a" * (MAX_DEPTH + 1) + b"\x09")
    # ten thousand nested lists: refused quickly, no RecursionError
    with pytest.raises(ClarityDecodeError):
        deserialize(b"\x0b\x00\x00\x00\x01" * 10_000 + b"\x09")


@pytest.mark.parametrize(
    ("hexdata", "message"),
    [
        ("", "need 1 bytes"),
        ("0f", "unknown Clarity type id 0x0f"),
        ("ff", "unknown Clarity type id 0xff"),
        ("00" + "00" * 15, "need 16 bytes"),
        ("02ffffffff", "need 4294967295 bytes"),  # huge declared buffer length
        ("0d7fffffff41", "need 2147483647 bytes"),
        ("0e00000001", "need 1 bytes"),
        ("0e00000002c328", "not valid UTF-8"),
        ("0d0000000100", "outside printable ASCII"),
        ("0bffffffff09", "list declares 4294967295 items"),  # huge declared list length
        ("0cffffffff", "tuple declares"),
        ("0c00000000", "empty tuple"),
        ("0c000000020161090161 09".replace(" ", ""), "duplicate tuple key"),
        ("0c000000010020 09".replace(" ", ""), "invalid tuple key"),
        ("0c0000000102206109", "invalid tuple key"),
        ("05" + "20" + "00" * 20, "version 32 out of range"),
        ("06" + "16" + "00" * 20 + "00", "invalid contract name"),
        ("06" + "16" + "00" * 20 + "01", "need 1 bytes"),
        ("06" + "16" + "00" * 20 + "02312d", "invalid contract name"),
        ("0a", "need 1 bytes"),
        ("07", "need 1 bytes"),
        ("zz", "not a hex string"),
    ],
)
def test_hostile_bytes_raise_the_codec_error(hexdata: str, message: str) -> None:
    with pytest.raises(ClarityDecodeError, match=message):
        deserialize(hexdata)


def test_non_canonical_key_order_is_read_and_re_encoded_canonically() -> None:
    raw = bytes.fromhex("0c00000002" + "0162" + "0101" + "00" * 15 + "0161" + "0102" + "00" * 15)
    value = deserialize(raw)
    assert isinstance(value, ClarityTuple) and [k for k, _ in value.fields] == ["a", "b"]
    assert serialize(value) != raw


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(ClarityDecodeError):
        deserialize(123)  # type: ignore[arg-type]


def test_value_types_are_frozen_and_hashable() -> None:
    v = ClarityList((ClarityInt(1), ClarityOk(ClarityNone()), ClarityUInt(2)))
    assert hash(v) == hash(ClarityList((ClarityInt(1), ClarityOk(ClarityNone()), ClarityUInt(2))))
    with pytest.raises(AttributeError):
        v.items = ()  # type: ignore[misc]
    t = tuple_cv({"a": uint_cv(1)})
    assert t["a"] == uint_cv(1) and t.get("z") is None and t.as_dict() == {"a": uint_cv(1)}
    with pytest.raises(KeyError):
        t["z"]
