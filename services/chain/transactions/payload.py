"""Transaction payloads: contract call, token transfer, smart contract (``payload.ts``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..c32 import decode_address, parse_principal, validate_contract_name
from ..clarity import ClarityContractPrincipal, ClarityStandardPrincipal, ClarityValue, serialize
from .constants import PayloadType
from .wire import _check_function_name, _lp_name, _u64


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
