"""The contract call handed to the wallet (``prepareUserSignedTx``) and its check against what comes back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..c32 import parse_principal
from ..clarity import ClarityValue, to_hex
from ..errors import AddressError
from .builders import make_contract_call
from .constants import PostConditionMode
from .network import MAINNET, StacksNetwork, network_from
from .payload import ContractCallPayload
from .postcondition import PostCondition
from .signer import TransactionSigner
from .transaction import StacksTransaction
from .wire import _check_function_name


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
