"""Contract-call builders, as ``makeUnsignedContractCall`` / ``makeContractCall`` (``builders.ts``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..clarity import ClarityValue
from ..errors import SignatureError
from ..hashing import hash160
from .authorization import SingleSigSpendingCondition
from .constants import AnchorMode, PostConditionMode
from .network import MAINNET, StacksNetwork, network_from
from .payload import ContractCallPayload
from .postcondition import PostCondition
from .signer import TransactionSigner, sign_transaction
from .transaction import StacksTransaction


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
