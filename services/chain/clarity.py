"""Clarity values and their SIP-005 consensus serialization, both directions.

Typed values are frozen dataclasses. ``serialize`` / ``deserialize`` are byte-exact with the node and with
``@stacks/transactions``; ``deserialize`` never raises anything but ``ClarityDecodeError`` on hostile input:
every declared length is checked against the bytes that remain before anything is allocated, nesting is
bounded (``MAX_DEPTH``), tuple keys must be valid, unique names, and trailing bytes are refused.

Tuple keys are written in ascending byte order, as the node (a BTreeMap) and ``to-consensus-buff?`` do. Like
the node, decoding accepts any key order and re-encodes canonically: @stacks/transactions 7.x sorts keys with
``localeCompare``, which differs from byte order for keys mixing case or ``_`` (never for the lowercase
kebab-case keys this project uses). List homogeneity (a type-checker concern) is not verified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .c32 import StacksAddress, parse_principal, validate_contract_name
from .errors import AddressError, ClarityDecodeError, ClarityEncodeError

MAX_DEPTH = 32  # Clarity's MAX_TYPE_DEPTH
MAX_NAME_LENGTH = 128
INT_MIN = -(2**127)
INT_MAX = 2**127 - 1
UINT_MAX = 2**128 - 1

_CLARITY_NAME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9\-_!?+<>=/*]*|[-+=/*]|[<>]=?)$")
# What Clarity accepts in string-ascii: alphanumerics, punctuation and ASCII whitespace.
_ASCII_ALLOWED = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0C, 0x0D}


class TypeId:
    INT = 0x00
    UINT = 0x01
    BUFFER = 0x02
    TRUE = 0x03
    FALSE = 0x04
    STANDARD_PRINCIPAL = 0x05
    CONTRACT_PRINCIPAL = 0x06
    OK = 0x07
    ERR = 0x08
    NONE = 0x09
    SOME = 0x0A
    LIST = 0x0B
    TUPLE = 0x0C
    STRING_ASCII = 0x0D
    STRING_UTF8 = 0x0E


def _check_name(name: str, what: str = "tuple key") -> bytes:
    if not isinstance(name, str) or not _CLARITY_NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        raise ClarityEncodeError(f"invalid Clarity {what} {name!r}")
    return name.encode("ascii")


@dataclass(frozen=True, slots=True)
class ClarityInt:
    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise ClarityEncodeError("int needs a Python int")
        if not INT_MIN <= self.value <= INT_MAX:
            raise ClarityEncodeError("int out of the i128 range")


@dataclass(frozen=True, slots=True)
class ClarityUInt:
    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise ClarityEncodeError("uint needs a Python int")
        if not 0 <= self.value <= UINT_MAX:
            raise ClarityEncodeError("uint out of the u128 range")


@dataclass(frozen=True, slots=True)
class ClarityBuffer:
    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes):
            raise ClarityEncodeError("buffer needs bytes")


@dataclass(frozen=True, slots=True)
class ClarityBool:
    value: bool


@dataclass(frozen=True, slots=True)
class ClarityStandardPrincipal:
    version: int
    hash160: bytes

    def __post_init__(self) -> None:
        try:
            StacksAddress(self.version, self.hash160)
        except AddressError as exc:
            raise ClarityEncodeError(str(exc)) from exc

    @property
    def address(self) -> str:
        return str(StacksAddress(self.version, self.hash160))

    def __str__(self) -> str:
        return self.address


@dataclass(frozen=True, slots=True)
class ClarityContractPrincipal:
    version: int
    hash160: bytes
    name: str

    def __post_init__(self) -> None:
        try:
            StacksAddress(self.version, self.hash160)
            validate_contract_name(self.name)
        except AddressError as exc:
            raise ClarityEncodeError(str(exc)) from exc

    @property
    def address(self) -> str:
        return str(StacksAddress(self.version, self.hash160))

    def __str__(self) -> str:
        return f"{self.address}.{self.name}"


@dataclass(frozen=True, slots=True)
class ClarityOk:
    value: ClarityValue


@dataclass(frozen=True, slots=True)
class ClarityErr:
    value: ClarityValue


@dataclass(frozen=True, slots=True)
class ClarityNone:
    pass


@dataclass(frozen=True, slots=True)
class ClaritySome:
    value: ClarityValue


@dataclass(frozen=True, slots=True)
class ClarityList:
    items: tuple[ClarityValue, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True, slots=True)
class ClarityTuple:
    """Fields are kept sorted by name bytes, as they are serialized."""

    fields: tuple[tuple[str, ClarityValue], ...] = field(default=())

    def __post_init__(self) -> None:
        pairs = tuple(self.fields)
        names = [name for name, _ in pairs]
        for name in names:
            _check_name(name)
        if not pairs:
            raise ClarityEncodeError("Clarity tuples cannot be empty")
        if len(set(names)) != len(names):
            raise ClarityEncodeError("duplicate tuple key")
        object.__setattr__(self, "fields", tuple(sorted(pairs, key=lambda kv: kv[0].encode("ascii"))))

    @classmethod
    def of(cls, data: Mapping[str, ClarityValue]) -> ClarityTuple:
        return cls(tuple(data.items()))

    def get(self, name: str) -> ClarityValue | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def __getitem__(self, name: str) -> ClarityValue:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def as_dict(self) -> dict[str, ClarityValue]:
        return dict(self.fields)


@dataclass(frozen=True, slots=True)
class ClarityStringAscii:
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or any(ord(c) not in _ASCII_ALLOWED for c in self.value):
            raise ClarityEncodeError("string-ascii accepts printable ASCII and ASCII whitespace only")


@dataclass(frozen=True, slots=True)
class ClarityStringUtf8:
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise ClarityEncodeError("string-utf8 needs a str")
        try:
            self.value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ClarityEncodeError("string-utf8 holds unencodable text (lone surrogates)") from exc


ClarityValue = Union[  # noqa: UP007 - a runtime alias used in isinstance-free annotations
    ClarityInt,
    ClarityUInt,
    ClarityBuffer,
    ClarityBool,
    ClarityStandardPrincipal,
    ClarityContractPrincipal,
    ClarityOk,
    ClarityErr,
    ClarityNone,
    ClaritySome,
    ClarityList,
    ClarityTuple,
    ClarityStringAscii,
    ClarityStringUtf8,
]

# Constructors with the names the rest of the code reads naturally -----------------------------------------


def int_cv(value: int) -> ClarityInt:
    return ClarityInt(value)


def uint_cv(value: int) -> ClarityUInt:
    return ClarityUInt(value)


def buff_cv(value: bytes) -> ClarityBuffer:
    return ClarityBuffer(bytes(value))


def bool_cv(value: bool) -> ClarityBool:
    return ClarityBool(bool(value))


def principal_cv(text: str) -> ClarityStandardPrincipal | ClarityContractPrincipal:
    """``SP…`` or ``SP….contract-name`` → the principal value."""
    try:
        address, name = parse_principal(text)
    except AddressError as exc:
        raise ClarityEncodeError(f"invalid principal: {exc}") from exc
    if name is None:
        return ClarityStandardPrincipal(address.version, address.hash160)
    return ClarityContractPrincipal(address.version, address.hash160, name)


def ok_cv(value: ClarityValue) -> ClarityOk:
    return ClarityOk(value)


def err_cv(value: ClarityValue) -> ClarityErr:
    return ClarityErr(value)


def none_cv() -> ClarityNone:
    return ClarityNone()


def some_cv(value: ClarityValue) -> ClaritySome:
    return ClaritySome(value)


def list_cv(items: Iterable[ClarityValue]) -> ClarityList:
    return ClarityList(tuple(items))


def tuple_cv(data: Mapping[str, ClarityValue]) -> ClarityTuple:
    return ClarityTuple.of(data)


def string_ascii_cv(value: str) -> ClarityStringAscii:
    return ClarityStringAscii(value)


def string_utf8_cv(value: str) -> ClarityStringUtf8:
    return ClarityStringUtf8(value)


# Serialization -------------------------------------------------------------------------------------------


def _u32(n: int) -> bytes:
    if n > 0xFFFFFFFF:
        raise ClarityEncodeError("length does not fit in u32")
    return n.to_bytes(4, "big")


def _encode(value: ClarityValue, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ClarityEncodeError(f"value nested deeper than {MAX_DEPTH}")
    if isinstance(value, ClarityInt):
        out.append(TypeId.INT)
        out += value.value.to_bytes(16, "big", signed=True)
    elif isinstance(value, ClarityUInt):
        out.append(TypeId.UINT)
        out += value.value.to_bytes(16, "big")
    elif isinstance(value, ClarityBuffer):
        out.append(TypeId.BUFFER)
        out += _u32(len(value.value)) + value.value
    elif isinstance(value, ClarityBool):
        out.append(TypeId.TRUE if value.value else TypeId.FALSE)
    elif isinstance(value, ClarityStandardPrincipal):
        out.append(TypeId.STANDARD_PRINCIPAL)
        out.append(value.version)
        out += value.hash160
    elif isinstance(value, ClarityContractPrincipal):
        contract_name = value.name.encode("ascii")
        out.append(TypeId.CONTRACT_PRINCIPAL)
        out.append(value.version)
        out += value.hash160
        out.append(len(contract_name))
        out += contract_name
    elif isinstance(value, ClarityOk | ClarityErr | ClaritySome):
        out.append(
            TypeId.OK if isinstance(value, ClarityOk) else TypeId.ERR if isinstance(value, ClarityErr) else TypeId.SOME
        )
        _encode(value.value, out, depth + 1)
    elif isinstance(value, ClarityNone):
        out.append(TypeId.NONE)
    elif isinstance(value, ClarityList):
        out.append(TypeId.LIST)
        out += _u32(len(value.items))
        for item in value.items:
            _encode(item, out, depth + 1)
    elif isinstance(value, ClarityTuple):
        out.append(TypeId.TUPLE)
        out += _u32(len(value.fields))
        for name, item in value.fields:
            raw = name.encode("ascii")
            out.append(len(raw))
            out += raw
            _encode(item, out, depth + 1)
    elif isinstance(value, ClarityStringAscii):
        raw = value.value.encode("ascii")
        out.append(TypeId.STRING_ASCII)
        out += _u32(len(raw)) + raw
    elif isinstance(value, ClarityStringUtf8):
        raw = value.value.encode("utf-8")
        out.append(TypeId.STRING_UTF8)
        out += _u32(len(raw)) + raw
    else:
        raise ClarityEncodeError(f"not a Clarity value: {type(value).__name__}")


def serialize(value: ClarityValue) -> bytes:
    """SIP-005 consensus bytes of ``value``."""
    out = bytearray()
    _encode(value, out, 0)
    return bytes(out)


def to_hex(value: ClarityValue) -> str:
    """``0x``-prefixed hex, the form Stacks APIs and wallets exchange."""
    return "0x" + serialize(value).hex()


# Deserialization -----------------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise ClarityDecodeError(f"need {n} bytes at offset {self.pos}, only {len(self.data) - self.pos} remain")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def _decode_name(reader: _Reader, what: str) -> str:
    length = reader.u8()
    raw = reader.take(length)
    try:
        name = raw.decode("ascii")
        if what == "contract name":
            validate_contract_name(name)
        else:
            _check_name(name, what)
    except (UnicodeDecodeError, ClarityEncodeError, AddressError) as exc:
        raise ClarityDecodeError(f"invalid {what} {raw!r}") from exc
    return name


def _decode_principal_parts(reader: _Reader) -> tuple[int, bytes]:
    version = reader.u8()
    if version >= 32:
        raise ClarityDecodeError(f"principal version {version} out of range 0..31")
    return version, reader.take(20)


def _decode(reader: _Reader, depth: int) -> ClarityValue:
    if depth > MAX_DEPTH:
        raise ClarityDecodeError(f"value nested deeper than {MAX_DEPTH}")
    type_id = reader.u8()
    if type_id == TypeId.INT:
        return ClarityInt(int.from_bytes(reader.take(16), "big", signed=True))
    if type_id == TypeId.UINT:
        return ClarityUInt(int.from_bytes(reader.take(16), "big"))
    if type_id == TypeId.BUFFER:
        return ClarityBuffer(reader.take(reader.u32()))
    if type_id == TypeId.TRUE:
        return ClarityBool(True)
    if type_id == TypeId.FALSE:
        return ClarityBool(False)
    if type_id == TypeId.STANDARD_PRINCIPAL:
        version, h160 = _decode_principal_parts(reader)
        return ClarityStandardPrincipal(version, h160)
    if type_id == TypeId.CONTRACT_PRINCIPAL:
        version, h160 = _decode_principal_parts(reader)
        return ClarityContractPrincipal(version, h160, _decode_name(reader, "contract name"))
    if type_id == TypeId.OK:
        return ClarityOk(_decode(reader, depth + 1))
    if type_id == TypeId.ERR:
        return ClarityErr(_decode(reader, depth + 1))
    if type_id == TypeId.NONE:
        return ClarityNone()
    if type_id == TypeId.SOME:
        return ClaritySome(_decode(reader, depth + 1))
    if type_id == TypeId.LIST:
        count = reader.u32()
        if count > reader.remaining:  # every item takes at least one byte
            raise ClarityDecodeError(f"list declares {count} items but only {reader.remaining} bytes remain")
        return ClarityList(tuple(_decode(reader, depth + 1) for _ in range(count)))
    if type_id == TypeId.TUPLE:
        count = reader.u32()
        if count == 0:
            raise ClarityDecodeError("empty tuple")
        if count > reader.remaining // 3:  # name length, a name byte and a type byte at least
            raise ClarityDecodeError(f"tuple declares {count} fields but only {reader.remaining} bytes remain")
        pairs: list[tuple[str, ClarityValue]] = []
        seen: set[str] = set()
        for _ in range(count):
            name = _decode_name(reader, "tuple key")
            if name in seen:
                raise ClarityDecodeError(f"duplicate tuple key {name!r}")
            seen.add(name)
            pairs.append((name, _decode(reader, depth + 1)))
        return ClarityTuple(tuple(pairs))
    if type_id == TypeId.STRING_ASCII:
        raw = reader.take(reader.u32())
        if any(b not in _ASCII_ALLOWED for b in raw):
            raise ClarityDecodeError("string-ascii holds a byte outside printable ASCII")
        return ClarityStringAscii(raw.decode("ascii"))
    if type_id == TypeId.STRING_UTF8:
        raw = reader.take(reader.u32())
        try:
            return ClarityStringUtf8(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ClarityDecodeError("string-utf8 is not valid UTF-8") from exc
    raise ClarityDecodeError(f"unknown Clarity type id 0x{type_id:02x} at offset {reader.pos - 1}")


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        text = data[2:] if data[:2] in ("0x", "0X") else data
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise ClarityDecodeError("not a hex string") from exc
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise ClarityDecodeError(f"cannot decode a {type(data).__name__}")


def deserialize(data: bytes | bytearray | memoryview | str) -> ClarityValue:
    """Decode exactly one Clarity value from bytes or (``0x``-optional) hex; trailing bytes are an error."""
    reader = _Reader(_as_bytes(data))
    try:
        value = _decode(reader, 0)
    except ClarityEncodeError as exc:  # a constructor refused a decoded part
        raise ClarityDecodeError(str(exc)) from exc
    if reader.remaining:
        raise ClarityDecodeError(f"{reader.remaining} trailing bytes after the value")
    return value


def deserialize_from(data: bytes, offset: int) -> tuple[ClarityValue, int]:
    """Decode one value starting at ``offset``; returns it and the offset after it (for transaction parsing)."""
    reader = _Reader(data, offset)
    try:
        return _decode(reader, 0), reader.pos
    except ClarityEncodeError as exc:
        raise ClarityDecodeError(str(exc)) from exc


# Plain Python view for event handling ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseOk:
    value: Any


@dataclass(frozen=True, slots=True)
class ResponseErr:
    value: Any


def to_python(value: ClarityValue) -> Any:
    """tuple→dict (kebab keys kept), int/uint→int, principal→str, buff→bytes, strings→str, bool→bool,
    none→None, some→its value, list→list, ok/err→ResponseOk/ResponseErr."""
    if isinstance(value, ClarityInt | ClarityUInt | ClarityBool | ClarityStringAscii | ClarityStringUtf8):
        return value.value
    if isinstance(value, ClarityBuffer):
        return value.value
    if isinstance(value, ClarityStandardPrincipal | ClarityContractPrincipal):
        return str(value)
    if isinstance(value, ClarityNone):
        return None
    if isinstance(value, ClaritySome):
        return to_python(value.value)
    if isinstance(value, ClarityOk):
        return ResponseOk(to_python(value.value))
    if isinstance(value, ClarityErr):
        return ResponseErr(to_python(value.value))
    if isinstance(value, ClarityList):
        return [to_python(item) for item in value.items]
    if isinstance(value, ClarityTuple):
        return {name: to_python(item) for name, item in value.fields}
    raise ClarityEncodeError(f"not a Clarity value: {type(value).__name__}")


def decode_to_python(data: bytes | str) -> Any:
    return to_python(deserialize(data))
