"""Stacks transactions (SIP-005 wire format): build, sign, serialize, parse, txid.

Building and signing cover what the backend sends: single-signature (P2PKH, compressed key) contract calls
with fee, nonce, anchor mode, post-condition mode and post-conditions. Parsing also reads what a wallet may
send back (token transfers, smart contracts, multisig and sponsored authorizations) so a wallet-signed
transaction can be checked against the contract call the service prepared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Literal, Protocol, Union

from .c32 import AddressVersion, StacksAddress, decode_address, parse_principal, validate_contract_name
from .clarity import (
    ClarityContractPrincipal,
    ClarityStandardPrincipal,
    ClarityValue,
    deserialize_from,
    serialize,
    to_hex,
)
from .errors import AddressError, ClarityDecodeError, SignatureError, TransactionDecodeError
from .hashing import hash160, sha512_256
from .signing import recover_public_key, rsv_to_vrs, vrs_to_rsv

# Networks ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StacksNetwork:
    name: str
    transaction_version: int
    chain_id: int
    single_sig_version: int
    multi_sig_version: int


MAINNET = StacksNetwork("mainnet", 0x00, 0x00000001, AddressVersion.MAINNET_SINGLE_SIG, 20)
TESTNET = StacksNetwork("testnet", 0x80, 0x80000000, AddressVersion.TESTNET_SINGLE_SIG, 21)
_NETWORKS = {"mainnet": MAINNET, "testnet": TESTNET, "devnet": TESTNET, "mocknet": TESTNET}


def network_from(name: str | StacksNetwork) -> StacksNetwork:
    if isinstance(name, StacksNetwork):
        return name
    try:
        return _NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown Stacks network {name!r}") from None


# Enumerations --------------------------------------------------------------------------------------------


class AuthType(IntEnum):
    STANDARD = 0x04
    SPONSORED = 0x05


class HashMode(IntEnum):
    P2PKH = 0x00
    P2SH = 0x01
    P2WPKH = 0x02
    P2WSH = 0x03
    P2SH_NON_SEQUENTIAL = 0x05
    P2WSH_NON_SEQUENTIAL = 0x07


SINGLE_SIG_MODES = frozenset({HashMode.P2PKH, HashMode.P2WPKH})
MULTI_SIG_MODES = frozenset(
    {HashMode.P2SH, HashMode.P2WSH, HashMode.P2SH_NON_SEQUENTIAL, HashMode.P2WSH_NON_SEQUENTIAL}
)


class PubKeyEncoding(IntEnum):
    COMPRESSED = 0x00
    UNCOMPRESSED = 0x01


class AnchorMode(IntEnum):
    ON_CHAIN_ONLY = 0x01
    OFF_CHAIN_ONLY = 0x02
    ANY = 0x03


class PostConditionMode(IntEnum):
    ALLOW = 0x01
    DENY = 0x02
    ORIGINATOR = 0x03  # SIP-040, epoch 3.4


class PayloadType(IntEnum):
    TOKEN_TRANSFER = 0x00
    SMART_CONTRACT = 0x01
    CONTRACT_CALL = 0x02
    VERSIONED_SMART_CONTRACT = 0x06


FungibleComparator = Literal["eq", "gt", "gte", "lt", "lte"]
NonFungibleComparator = Literal["sent", "not-sent", "maybe-sent"]
FUNGIBLE_CODES: dict[str, int] = {"eq": 0x01, "gt": 0x02, "gte": 0x03, "lt": 0x04, "lte": 0x05}
NON_FUNGIBLE_CODES: dict[str, int] = {"sent": 0x10, "not-sent": 0x11, "maybe-sent": 0x12}
_FUNGIBLE_NAMES = {v: k for k, v in FUNGIBLE_CODES.items()}
_NON_FUNGIBLE_NAMES = {v: k for k, v in NON_FUNGIBLE_CODES.items()}
_CLARITY_NAME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9\-_!?+<>=/*]*|[-+=/*]|[<>]=?)$")
U64_MAX = 2**64 - 1


def _lp_name(name: str, what: str) -> bytes:
    raw = name.encode("ascii")
    if not 1 <= len(raw) <= 128:
        raise ValueError(f"{what} must have 1..128 characters")
    return bytes([len(raw)]) + raw


def _check_function_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > 128 or not _CLARITY_NAME.match(name):
        raise ValueError(f"invalid function name {name!r}")
    return name


def _u64(n: int, what: str) -> bytes:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= U64_MAX:
        raise ValueError(f"{what} must be an integer in 0..2^64-1")
    return n.to_bytes(8, "big")


# Post-conditions -----------------------------------------------------------------------------------------


def _principal_wire(principal: str) -> bytes:
    if principal == "origin":
        return b"\x01"
    address, name = parse_principal(principal)
    head = bytes([address.version]) + address.hash160
    if name is None:
        return b"\x02" + head
    return b"\x03" + head + _lp_name(name, "contract name")


def _asset_wire(asset: str) -> bytes:
    contract_id, sep, asset_name = asset.partition("::")
    address, name = parse_principal(contract_id)
    if not sep or name is None:
        raise ValueError("asset must be 'ADDRESS.contract::asset-name'")
    return (
        bytes([address.version])
        + address.hash160
        + _lp_name(name, "contract name")
        + _lp_name(asset_name, "asset name")
    )


@dataclass(frozen=True, slots=True)
class StxPostCondition:
    """``principal`` is ``'origin'``, ``SP…`` or ``SP….contract``; amount in micro-STX."""

    principal: str
    condition: FungibleComparator
    amount: int

    def __post_init__(self) -> None:
        if self.condition not in FUNGIBLE_CODES:
            raise ValueError(f"unknown STX condition {self.condition!r}")
        _u64(self.amount, "post-condition amount")
        _principal_wire(self.principal)

    def to_wire(self) -> bytes:
        return (
            b"\x00"
            + _principal_wire(self.principal)
            + bytes([FUNGIBLE_CODES[self.condition]])
            + _u64(self.amount, "amount")
        )

    def to_json(self) -> dict[str, str]:
        """The @stacks/transactions v7 form a wallet connector accepts."""
        return {
            "type": "stx-postcondition",
            "address": self.principal,
            "condition": self.condition,
            "amount": str(self.amount),
        }


@dataclass(frozen=True, slots=True)
class FungiblePostCondition:
    principal: str
    condition: FungibleComparator
    amount: int
    asset: str  # ADDRESS.contract::token-name

    def __post_init__(self) -> None:
        if self.condition not in FUNGIBLE_CODES:
            raise ValueError(f"unknown fungible condition {self.condition!r}")
        _u64(self.amount, "post-condition amount")

    def to_wire(self) -> bytes:
        return (
            b"\x01"
            + _principal_wire(self.principal)
            + _asset_wire(self.asset)
            + bytes([FUNGIBLE_CODES[self.condition]])
            + _u64(self.amount, "amount")
        )

    def to_json(self) -> dict[str, str]:
        return {
            "type": "ft-postcondition",
            "address": self.principal,
            "condition": self.condition,
            "amount": str(self.amount),
            "asset": self.asset,
        }


@dataclass(frozen=True, slots=True)
class NonFungiblePostCondition:
    principal: str
    condition: NonFungibleComparator
    asset: str
    asset_id: ClarityValue

    def __post_init__(self) -> None:
        if self.condition not in NON_FUNGIBLE_CODES:
            raise ValueError(f"unknown non-fungible condition {self.condition!r}")

    def to_wire(self) -> bytes:
        return (
            b"\x02"
            + _principal_wire(self.principal)
            + _asset_wire(self.asset)
            + serialize(self.asset_id)
            + bytes([NON_FUNGIBLE_CODES[self.condition]])
        )

    def to_json(self) -> dict[str, str]:
        return {
            "type": "nft-postcondition",
            "address": self.principal,
            "condition": self.condition,
            "asset": self.asset,
            "assetId": to_hex(self.asset_id),
        }


PostCondition = Union[StxPostCondition, FungiblePostCondition, NonFungiblePostCondition]  # noqa: UP007


def stx_post_condition(principal: str, condition: FungibleComparator, amount: int) -> StxPostCondition:
    return StxPostCondition(principal, condition, amount)


def post_condition_to_hex(post_condition: PostCondition) -> str:
    """Hex (no ``0x``) wire form, as ``postConditionToHex`` of @stacks/transactions."""
    return post_condition.to_wire().hex()


def post_condition_to_json(post_condition: PostCondition) -> dict[str, str]:
    return post_condition.to_json()


# Payloads ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContractCallPayload:
    contract_address: str
    contract_name: str
    function_name: str
    function_args: tuple[ClarityValue, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "function_args", tuple(self.function_args))
        decode_address(self.contract_address)
        validate_contract_name(self.contract_name)
        _check_function_name(self.function_name)

    @property
    def contract_id(self) -> str:
        return f"{self.contract_address}.{self.contract_name}"

    def to_wire(self) -> bytes:
        address = decode_address(self.contract_address)
        out = bytearray([PayloadType.CONTRACT_CALL, address.version])
        out += address.hash160
        out += _lp_name(self.contract_name, "contract name")
        out += _lp_name(self.function_name, "function name")
        out += len(self.function_args).to_bytes(4, "big")
        for arg in self.function_args:
            out += serialize(arg)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class TokenTransferPayload:
    recipient: str  # principal string
    amount: int
    memo: bytes = b""

    def to_wire(self) -> bytes:
        if len(self.memo) > 34:
            raise ValueError("memo is at most 34 bytes")
        address, name = parse_principal(self.recipient)
        recipient: ClarityValue = (
            ClarityStandardPrincipal(address.version, address.hash160)
            if name is None
            else ClarityContractPrincipal(address.version, address.hash160, name)
        )
        return (
            bytes([PayloadType.TOKEN_TRANSFER])
            + serialize(recipient)
            + _u64(self.amount, "amount")
            + self.memo.ljust(34, b"\x00")
        )


@dataclass(frozen=True, slots=True)
class SmartContractPayload:
    contract_name: str
    code_body: str
    clarity_version: int | None = None

    def to_wire(self) -> bytes:
        code = self.code_body.encode("utf-8")
        head = (
            bytes([PayloadType.SMART_CONTRACT])
            if self.clarity_version is None
            else bytes([PayloadType.VERSIONED_SMART_CONTRACT, self.clarity_version])
        )
        return head + _lp_name(self.contract_name, "contract name") + len(code).to_bytes(4, "big") + code


Payload = Union[ContractCallPayload, TokenTransferPayload, SmartContractPayload]  # noqa: UP007


# Authorization -------------------------------------------------------------------------------------------

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


# The transaction -----------------------------------------------------------------------------------------


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


def make_unsigned_contract_call(
    *,
    contract_address: str,
    contract_name: str,
    function_name: str,
    function_args: Sequence[ClarityValue],
    public_key: bytes,
    nonce: int,
    fee: int,
    network: str | StacksNetwork = MAINNET,
    post_condition_mode: PostConditionMode = PostConditionMode.DENY,
    post_conditions: Iterable[PostCondition] = (),
    anchor_mode: AnchorMode = AnchorMode.ANY,
) -> StacksTransaction:
    net = network_from(network)
    if len(public_key) != 33 or public_key[0] not in (2, 3):
        raise SignatureError("a compressed 33-byte public key is required")
    return StacksTransaction(
        version=net.transaction_version,
        chain_id=net.chain_id,
        origin=SingleSigSpendingCondition(signer=hash160(public_key), nonce=nonce, fee=fee),
        payload=ContractCallPayload(contract_address, contract_name, function_name, tuple(function_args)),
        anchor_mode=anchor_mode,
        post_condition_mode=post_condition_mode,
        post_conditions=tuple(post_conditions),
    )


def make_contract_call(
    *,
    contract_address: str,
    contract_name: str,
    function_name: str,
    function_args: Sequence[ClarityValue],
    signer: TransactionSigner,
    nonce: int,
    fee: int,
    network: str | StacksNetwork = MAINNET,
    post_condition_mode: PostConditionMode = PostConditionMode.DENY,
    post_conditions: Iterable[PostCondition] = (),
    anchor_mode: AnchorMode = AnchorMode.ANY,
) -> StacksTransaction:
    """A signed single-sig contract call, byte-identical to @stacks/transactions' ``makeContractCall``."""
    tx = make_unsigned_contract_call(
        contract_address=contract_address,
        contract_name=contract_name,
        function_name=function_name,
        function_args=function_args,
        public_key=signer.public_key,
        nonce=nonce,
        fee=fee,
        network=network,
        post_condition_mode=post_condition_mode,
        post_conditions=post_conditions,
        anchor_mode=anchor_mode,
    )
    return sign_transaction(tx, signer)


def txid_of(raw: bytes | str) -> str:
    data = bytes.fromhex(raw[2:] if raw[:2] in ("0x", "0X") else raw) if isinstance(raw, str) else raw
    return "0x" + sha512_256(data).hex()


# The contract call handed to the wallet (prepareUserSignedTx) --------------------------------------------


@dataclass(frozen=True, slots=True)
class PreparedContractCall:
    """A contract call for the user's wallet to sign (DESIGN §7, "Quote and creation")."""

    contract_address: str
    contract_name: str
    function_name: str
    function_args: tuple[ClarityValue, ...]
    post_conditions: tuple[PostCondition, ...]
    post_condition_mode: PostConditionMode
    network: StacksNetwork

    def to_wallet_json(self) -> dict[str, Any]:
        return {
            "contractAddress": self.contract_address,
            "contractName": self.contract_name,
            "functionName": self.function_name,
            "functionArgs": [to_hex(arg) for arg in self.function_args],
            "postConditions": [pc.to_json() for pc in self.post_conditions],
            "postConditionMode": "deny" if self.post_condition_mode == PostConditionMode.DENY else "allow",
            "network": self.network.name,
        }

    def sign(self, signer: TransactionSigner, nonce: int, fee: int) -> StacksTransaction:
        """What the wallet does with it: this very call, signed (the demo and the tests act as the wallet)."""
        return make_contract_call(
            contract_address=self.contract_address,
            contract_name=self.contract_name,
            function_name=self.function_name,
            function_args=self.function_args,
            signer=signer,
            nonce=nonce,
            fee=fee,
            network=self.network,
            post_condition_mode=self.post_condition_mode,
            post_conditions=self.post_conditions,
        )

    def mismatches(self, tx: StacksTransaction) -> list[str]:
        """What differs between this prepared call and a wallet-signed transaction (empty = it matches)."""
        problems: list[str] = []
        payload = tx.payload
        if tx.version != self.network.transaction_version or tx.chain_id != self.network.chain_id:
            problems.append("network")
        if not isinstance(payload, ContractCallPayload):
            return [*problems, "payload is not a contract call"]
        if payload.contract_id != f"{self.contract_address}.{self.contract_name}":
            problems.append("contract")
        if payload.function_name != self.function_name:
            problems.append("function")
        if payload.function_args != self.function_args:
            problems.append("arguments")
        if tx.post_condition_mode != self.post_condition_mode:
            problems.append("post-condition mode")
        if tuple(tx.post_conditions) != self.post_conditions:
            problems.append("post-conditions")
        return problems


def prepare_contract_call(
    *,
    contract_id: str,
    function_name: str,
    function_args: Sequence[ClarityValue],
    post_conditions: Iterable[PostCondition] = (),
    post_condition_mode: PostConditionMode = PostConditionMode.DENY,
    network: str | StacksNetwork = MAINNET,
) -> PreparedContractCall:
    address, name = parse_principal(contract_id)
    if name is None:
        raise AddressError("contract_id must be ADDRESS.contract-name")
    _check_function_name(function_name)
    return PreparedContractCall(
        contract_address=str(address),
        contract_name=name,
        function_name=function_name,
        function_args=tuple(function_args),
        post_conditions=tuple(post_conditions),
        post_condition_mode=post_condition_mode,
        network=network_from(network),
    )


# Parsing -------------------------------------------------------------------------------------------------


class _TxReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise TransactionDecodeError(f"transaction truncated at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def name(self, what: str) -> str:
        raw = self.take(self.u8())
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise TransactionDecodeError(f"{what} is not ASCII") from exc
        if not text:
            raise TransactionDecodeError(f"empty {what}")
        return text

    def address(self) -> str:
        version = self.u8()
        try:
            return str(StacksAddress(version, self.take(20)))
        except AddressError as exc:
            raise TransactionDecodeError(str(exc)) from exc

    def clarity(self) -> ClarityValue:
        try:
            value, self.pos = deserialize_from(self.data, self.pos)
        except ClarityDecodeError as exc:
            raise TransactionDecodeError(f"bad Clarity value: {exc}") from exc
        return value


def _read_spending_condition(r: _TxReader) -> SpendingCondition:
    hash_mode = r.u8()
    signer = r.take(20)
    nonce = r.u64()
    fee = r.u64()
    if hash_mode in SINGLE_SIG_MODES:
        key_encoding = r.u8()
        if key_encoding not in (0, 1):
            raise TransactionDecodeError(f"unknown key encoding {key_encoding}")
        return SingleSigSpendingCondition(
            signer=signer,
            nonce=nonce,
            fee=fee,
            signature=r.take(65),
            hash_mode=hash_mode,
            key_encoding=key_encoding,
        )
    if hash_mode in MULTI_SIG_MODES:
        count = r.u32()
        if count > (len(r.data) - r.pos) // 34:
            raise TransactionDecodeError("multisig field count exceeds the data")
        fields = []
        for _ in range(count):
            kind = r.u8()
            if kind in (0x00, 0x01):
                fields.append(AuthField(kind, r.take(33)))
            elif kind in (0x02, 0x03):
                fields.append(AuthField(kind, r.take(65)))
            else:
                raise TransactionDecodeError(f"unknown auth field type {kind}")
        return MultiSigSpendingCondition(hash_mode, signer, nonce, fee, tuple(fields), r.u16())
    raise TransactionDecodeError(f"unknown hash mode 0x{hash_mode:02x}")


def _read_principal(r: _TxReader) -> str:
    kind = r.u8()
    if kind == 0x01:
        return "origin"
    if kind == 0x02:
        return r.address()
    if kind == 0x03:
        return f"{r.address()}.{r.name('contract name')}"
    raise TransactionDecodeError(f"unknown post-condition principal 0x{kind:02x}")


def _read_asset(r: _TxReader) -> str:
    address = r.address()
    contract = r.name("contract name")
    return f"{address}.{contract}::{r.name('asset name')}"


def _read_post_condition(r: _TxReader) -> PostCondition:
    kind = r.u8()
    principal = _read_principal(r)
    try:
        if kind == 0x00:
            code = r.u8()
            if code not in _FUNGIBLE_NAMES:
                raise TransactionDecodeError(f"unknown condition code 0x{code:02x}")
            return StxPostCondition(principal, _FUNGIBLE_NAMES[code], r.u64())  # type: ignore[arg-type]
        if kind == 0x01:
            asset = _read_asset(r)
            code = r.u8()
            if code not in _FUNGIBLE_NAMES:
                raise TransactionDecodeError(f"unknown condition code 0x{code:02x}")
            return FungiblePostCondition(principal, _FUNGIBLE_NAMES[code], r.u64(), asset)  # type: ignore[arg-type]
        if kind == 0x02:
            asset = _read_asset(r)
            asset_id = r.clarity()
            code = r.u8()
            if code not in _NON_FUNGIBLE_NAMES:
                raise TransactionDecodeError(f"unknown condition code 0x{code:02x}")
            return NonFungiblePostCondition(principal, _NON_FUNGIBLE_NAMES[code], asset, asset_id)  # type: ignore[arg-type]
    except (ValueError, AddressError) as exc:
        if isinstance(exc, TransactionDecodeError):
            raise
        raise TransactionDecodeError(str(exc)) from exc
    raise TransactionDecodeError(f"unknown post-condition type 0x{kind:02x}")


def _read_payload(r: _TxReader) -> Payload:
    kind = r.u8()
    try:
        if kind == PayloadType.CONTRACT_CALL:
            address = r.address()
            contract = r.name("contract name")
            function = r.name("function name")
            count = r.u32()
            if count > len(r.data) - r.pos:
                raise TransactionDecodeError("argument count exceeds the data")
            args = tuple(r.clarity() for _ in range(count))
            return ContractCallPayload(address, contract, function, args)
        if kind == PayloadType.TOKEN_TRANSFER:
            recipient = r.clarity()
            if not isinstance(recipient, ClarityStandardPrincipal | ClarityContractPrincipal):
                raise TransactionDecodeError("token transfer recipient is not a principal")
            amount = r.u64()
            return TokenTransferPayload(str(recipient), amount, r.take(34))
        if kind in (PayloadType.SMART_CONTRACT, PayloadType.VERSIONED_SMART_CONTRACT):
            version = r.u8() if kind == PayloadType.VERSIONED_SMART_CONTRACT else None
            name = r.name("contract name")
            code = r.take(r.u32())
            return SmartContractPayload(name, code.decode("utf-8"), version)
    except (ValueError, AddressError, UnicodeDecodeError) as exc:
        if isinstance(exc, TransactionDecodeError):
            raise
        raise TransactionDecodeError(str(exc)) from exc
    raise TransactionDecodeError(f"unsupported payload type 0x{kind:02x}")


def deserialize_transaction(raw: bytes | str) -> StacksTransaction:
    """Parse a serialized transaction (bytes or hex); any malformation raises ``TransactionDecodeError``."""
    if isinstance(raw, str):
        try:
            data = bytes.fromhex(raw[2:] if raw[:2] in ("0x", "0X") else raw)
        except ValueError as exc:
            raise TransactionDecodeError("not a hex string") from exc
    else:
        data = bytes(raw)
    r = _TxReader(data)
    version = r.u8()
    if version not in (MAINNET.transaction_version, TESTNET.transaction_version):
        raise TransactionDecodeError(f"unknown transaction version 0x{version:02x}")
    chain_id = r.u32()
    auth_type = r.u8()
    if auth_type not in (AuthType.STANDARD, AuthType.SPONSORED):
        raise TransactionDecodeError(f"unknown auth type 0x{auth_type:02x}")
    origin = _read_spending_condition(r)
    sponsor = _read_spending_condition(r) if auth_type == AuthType.SPONSORED else None
    anchor_mode = r.u8()
    if anchor_mode not in set(AnchorMode):
        raise TransactionDecodeError(f"unknown anchor mode 0x{anchor_mode:02x}")
    pc_mode = r.u8()
    if pc_mode not in set(PostConditionMode):
        raise TransactionDecodeError(f"unknown post-condition mode 0x{pc_mode:02x}")
    count = r.u32()
    if count > len(data) - r.pos:
        raise TransactionDecodeError("post-condition count exceeds the data")
    post_conditions = tuple(_read_post_condition(r) for _ in range(count))
    payload = _read_payload(r)
    if r.pos != len(data):
        raise TransactionDecodeError(f"{len(data) - r.pos} trailing bytes after the transaction")
    return StacksTransaction(
        version=version,
        chain_id=chain_id,
        origin=origin,
        payload=payload,
        anchor_mode=anchor_mode,
        post_condition_mode=pc_mode,
        post_conditions=post_conditions,
        sponsor=sponsor,
    )
