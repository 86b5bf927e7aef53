"""Parsing a serialized transaction (``BytesReader.ts`` and the ``deserialize*`` of ``wire/``)."""

from __future__ import annotations

from ..c32 import StacksAddress
from ..clarity import ClarityContractPrincipal, ClarityStandardPrincipal, ClarityValue, deserialize_from
from ..errors import AddressError, ClarityDecodeError, TransactionDecodeError
from .authorization import (
    AuthField,
    MultiSigSpendingCondition,
    SingleSigSpendingCondition,
    SpendingCondition,
)
from .constants import (
    FUNGIBLE_CODES,
    MULTI_SIG_MODES,
    NON_FUNGIBLE_CODES,
    SINGLE_SIG_MODES,
    AnchorMode,
    AuthType,
    PayloadType,
    PostConditionMode,
)
from .network import MAINNET, TESTNET
from .payload import ContractCallPayload, Payload, SmartContractPayload, TokenTransferPayload
from .postcondition import FungiblePostCondition, NonFungiblePostCondition, PostCondition, StxPostCondition
from .transaction import StacksTransaction

_FUNGIBLE_NAMES = {v: k for k, v in FUNGIBLE_CODES.items()}
_NON_FUNGIBLE_NAMES = {v: k for k, v in NON_FUNGIBLE_CODES.items()}


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
