"""c32check addresses."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.chain.c32 import (
    C32_ALPHABET,
    AddressVersion,
    address_from_public_key,
    c32_decode,
    c32_encode,
    c32check_decode,
    c32check_encode,
    decode_address,
    encode_address,
    is_valid_address,
    parse_principal,
)
from services.chain.errors import AddressError

# Well-known addresses: the boot contracts' deployer on both networks, and a key's address.
BOOT_MAINNET = "SP000000000000000000002Q6VF78"
BOOT_TESTNET = "ST000000000000000000002AMW42H"


def test_known_addresses() -> None:
    assert encode_address(22, b"\x00" * 20) == BOOT_MAINNET
    assert encode_address(26, b"\x00" * 20) == BOOT_TESTNET
    a = decode_address("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7")
    assert a.version == AddressVersion.MAINNET_SINGLE_SIG
    assert a.hash160.hex() == "a46ff88886c2ef9762d970b4d2c63678835bd39d"
    assert a.is_mainnet
    assert str(a) == "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"


def test_version_characters() -> None:
    h = bytes(range(20))
    assert encode_address(AddressVersion.MAINNET_SINGLE_SIG, h)[:2] == "SP"
    assert encode_address(AddressVersion.MAINNET_MULTI_SIG, h)[:2] == "SM"
    assert encode_address(AddressVersion.TESTNET_SINGLE_SIG, h)[:2] == "ST"
    assert encode_address(AddressVersion.TESTNET_MULTI_SIG, h)[:2] == "SN"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 31), st.binary(min_size=20, max_size=20))
def test_address_round_trip(version: int, h: bytes) -> None:
    address = encode_address(version, h)
    parsed = decode_address(address)
    assert (parsed.version, parsed.hash160) == (version, h)
    assert decode_address("S" + address[1:].lower()) == parsed  # c32 digits are case-insensitive


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_c32_round_trip_keeps_leading_zero_bytes(data: bytes) -> None:
    assert c32_decode(c32_encode(data)) == data


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 31), st.binary(max_size=30))
def test_c32check_round_trip(version: int, data: bytes) -> None:
    assert c32check_decode(c32check_encode(version, data)) == (version, data)


def test_checksum_errors() -> None:
    good = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"
    for i in range(2, len(good)):
        replacement = "0" if good[i] != "0" else "1"
        bad = good[:i] + replacement + good[i + 1 :]
        with pytest.raises(AddressError):
            decode_address(bad)
        assert not is_valid_address(bad)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "S",
        "SP",
        "SP123",
        "XP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7U",
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ!",
        "SPU2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ",
    ],
)
def test_malformed_addresses(text: str) -> None:
    with pytest.raises(AddressError):
        decode_address(text)


def test_wrong_payload_length_is_refused() -> None:
    with pytest.raises(AddressError, match="not 20"):
        decode_address("S" + c32check_encode(22, b"\x01" * 19))
    with pytest.raises(AddressError):
        encode_address(22, b"\x01" * 21)
    with pytest.raises(AddressError):
        encode_address(32, b"\x01" * 20)


def test_contract_principals() -> None:
    address, name = parse_principal("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.policy-registry")
    assert name == "policy-registry" and str(address).startswith("SP2J6")
    assert parse_principal("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7")[1] is None
    for bad in (
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.",
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.9x",
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.a.b",
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7." + "a" * 129,
    ):
        with pytest.raises(AddressError):
            parse_principal(bad)


def test_address_from_public_key() -> None:
    # the generator point G (private key 1), compressed
    g = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert address_from_public_key(g) == encode_address(22, bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6"))
    assert address_from_public_key(g, AddressVersion.TESTNET_SINGLE_SIG).startswith("ST")
    with pytest.raises(AddressError):
        address_from_public_key(g[:32])


def _reference_encode(data: bytes) -> str:
    """The reference c32check package's algorithm (repeated divmod: quadratic, fine for a reference)."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, rem = divmod(number, 32)
        digits.append(C32_ALPHABET[rem])
    return "0" * (len(data) - len(data.lstrip(b"\x00"))) + "".join(reversed(digits))


@given(st.binary(max_size=64))
def test_the_linear_codec_matches_the_reference_algorithm(data: bytes) -> None:
    assert c32_encode(data) == _reference_encode(data)
    assert c32_decode(c32_encode(data)) == data


def test_decoding_is_linear_and_addresses_are_length_checked_first() -> None:
    # docs/security.md: a 125,000-character authChallenge address held the loop 1.6 s (quadratic big-int decoding).
    # Decoding now reads a power-of-two base in linear time: 10x the input costs about 10x, not 100x.
    def cost(n: int) -> float:
        started = time.perf_counter()
        c32_decode("Z" * n)
        return time.perf_counter() - started

    small, large = min(cost(125_000) for _ in range(3)), min(cost(1_250_000) for _ in range(3))
    assert large < 30 * small, (small, large)
    with pytest.raises(AddressError, match="at most 41"):
        decode_address("S" + "T" * 125_000)
    with pytest.raises(AddressError, match="at most 170"):
        parse_principal("ST" + "T" * 200)
