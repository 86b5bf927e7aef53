"""c32check encoding of Stacks addresses (the algorithm of the reference ``c32check`` package).

A c32 string is the base-32 form of the big-endian number, with one leading ``0`` digit per leading zero
byte. An address is ``S`` + the version digit + c32(hash160 || checksum), checksum being the first four bytes
of sha256(sha256(version || hash160)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from services.core.input_bounds import CONTRACT_PRINCIPAL, STANDARD_PRINCIPAL

from .errors import AddressError
from .hashing import hash160, sha256

C32_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_C32_INDEX = {c: i for i, c in enumerate(C32_ALPHABET)}
# c32 digits → the digits Python's int() reads in base 32 ("0"-"9", "a"-"v"): a power-of-two base, which CPython
# converts in linear time (and outside the 4,300-digit limit of decimal conversions).
_BASE32_DIGITS = "0123456789abcdefghijklmnopqrstuv"
_TO_BASE32 = str.maketrans(C32_ALPHABET, _BASE32_DIGITS)
_CONTRACT_NAME = re.compile(r"^[a-zA-Z]([a-zA-Z0-9]|[-_])*$")
MAX_CONTRACT_NAME_LENGTH = 128


class AddressVersion(IntEnum):
    MAINNET_SINGLE_SIG = 22  # P
    MAINNET_MULTI_SIG = 20  # M
    TESTNET_SINGLE_SIG = 26  # T
    TESTNET_MULTI_SIG = 21  # N


def _normalize(text: str) -> str:
    return text.upper().replace("O", "0").replace("L", "1").replace("I", "1")


def c32_encode(data: bytes) -> str:
    # Linear: 5 bytes are exactly 8 digits, so left-pad to whole 5-byte groups and encode each group alone.
    leading_zero_bytes = len(data) - len(data.lstrip(b"\x00"))
    padded = bytes(-len(data) % 5) + data
    digits: list[str] = []
    for i in range(0, len(padded), 5):
        group = int.from_bytes(padded[i : i + 5], "big")
        digits.extend(C32_ALPHABET[(group >> shift) & 31] for shift in range(35, -1, -5))
    return "0" * leading_zero_bytes + "".join(digits).lstrip("0")


def c32_decode(text: str) -> bytes:
    text = _normalize(text)
    if not text:
        return b""
    if not set(text) <= _C32_INDEX.keys():
        raise AddressError("not a c32 string")
    leading_zeros = len(text) - len(text.lstrip("0"))
    number = int(text.translate(_TO_BASE32), 32)  # linear for a power-of-two base
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * leading_zeros + body


def _checksum(version: int, data: bytes) -> bytes:
    return sha256(sha256(bytes([version]) + data))[:4]


def c32check_encode(version: int, data: bytes) -> str:
    if not 0 <= version < 32:
        raise AddressError(f"version {version} out of range 0..31")
    return C32_ALPHABET[version] + c32_encode(data + _checksum(version, data))


def c32check_decode(text: str) -> tuple[int, bytes]:
    text = _normalize(text)
    if len(text) < 2 or text[0] not in _C32_INDEX:
        raise AddressError("c32check string too short or bad version digit")
    version = _C32_INDEX[text[0]]
    raw = c32_decode(text[1:])
    if len(raw) < 4:
        raise AddressError("c32check string too short")
    data, checksum = raw[:-4], raw[-4:]
    if _checksum(version, data) != checksum:
        raise AddressError("c32check checksum mismatch")
    return version, data


@dataclass(frozen=True, slots=True)
class StacksAddress:
    """A standard principal: version + 20-byte hash160."""

    version: int
    hash160: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.version < 32:
            raise AddressError(f"address version {self.version} out of range 0..31")
        if len(self.hash160) != 20:
            raise AddressError("address hash160 must be 20 bytes")

    def __str__(self) -> str:
        return "S" + c32check_encode(self.version, self.hash160)

    @property
    def is_mainnet(self) -> bool:
        return self.version in (AddressVersion.MAINNET_SINGLE_SIG, AddressVersion.MAINNET_MULTI_SIG)


def encode_address(version: int, hash160_bytes: bytes) -> str:
    return str(StacksAddress(version, hash160_bytes))


def decode_address(address: str) -> StacksAddress:
    """Parse ``S…`` into its version and hash160; strict about length and checksum."""
    if isinstance(address, str) and len(address) > STANDARD_PRINCIPAL:  # before any decoding
        raise AddressError(f"a Stacks address has at most {STANDARD_PRINCIPAL} characters")
    if not isinstance(address, str) or len(address) <= 5 or address[0] != "S":
        raise AddressError("a Stacks address starts with 'S' and is longer than 5 characters")
    version, data = c32check_decode(address[1:])
    if len(data) != 20:
        raise AddressError(f"address payload is {len(data)} bytes, not 20")
    return StacksAddress(version, data)


def is_valid_address(address: str) -> bool:
    try:
        decode_address(address)
    except AddressError:
        return False
    return True


def validate_contract_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_CONTRACT_NAME_LENGTH:
        raise AddressError("contract name must have 1..128 characters")
    if not _CONTRACT_NAME.match(name):
        raise AddressError(f"invalid contract name {name!r}")
    return name


def parse_principal(text: str) -> tuple[StacksAddress, str | None]:
    """``SP…`` → (address, None); ``SP….name`` → (address, name)."""
    if not isinstance(text, str):
        raise AddressError("principal must be a string")
    if len(text) > CONTRACT_PRINCIPAL:  # before any decoding
        raise AddressError(f"a principal has at most {CONTRACT_PRINCIPAL} characters")
    address, dot, name = text.partition(".")
    if dot:
        return decode_address(address), validate_contract_name(name)
    return decode_address(address), None


def address_from_public_key(public_key: bytes, version: int = AddressVersion.MAINNET_SINGLE_SIG) -> str:
    """Single-sig (P2PKH) address of a public key: hash160 of its bytes as given (33-byte compressed)."""
    if len(public_key) not in (33, 65):
        raise AddressError("public key must be 33 (compressed) or 65 bytes")
    return encode_address(version, hash160(public_key))
