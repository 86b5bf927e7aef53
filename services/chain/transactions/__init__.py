"""Stacks transactions (SIP-005 wire format): build, sign, serialize, parse, txid.

Building and signing cover what the backend sends: single-signature (P2PKH, compressed key) contract calls
with fee, nonce, anchor mode, post-condition mode and post-conditions. Parsing also reads what a wallet may
send back (token transfers, smart contracts, multisig and sponsored authorizations) so a wallet-signed
transaction can be checked against the contract call the service prepared.

The modules follow `@stacks/transactions`' own split; this package re-exports their public names.
"""

from .authorization import (
    EMPTY_SIGNATURE,
    AuthField,
    MultiSigSpendingCondition,
    SingleSigSpendingCondition,
    SpendingCondition,
)
from .builders import make_contract_call, make_unsigned_contract_call
from .constants import (
    FUNGIBLE_CODES,
    MULTI_SIG_MODES,
    NON_FUNGIBLE_CODES,
    SINGLE_SIG_MODES,
    AnchorMode,
    AuthType,
    FungibleComparator,
    HashMode,
    NonFungibleComparator,
    PayloadType,
    PostConditionMode,
    PubKeyEncoding,
)
from .deserialize import deserialize_transaction
from .network import MAINNET, TESTNET, StacksNetwork, network_from
from .payload import ContractCallPayload, Payload, SmartContractPayload, TokenTransferPayload
from .postcondition import (
    FungiblePostCondition,
    NonFungiblePostCondition,
    PostCondition,
    StxPostCondition,
    post_condition_to_hex,
    post_condition_to_json,
    stx_post_condition,
)
from .prepared import PreparedContractCall, prepare_contract_call
from .signer import TransactionSigner, sign_transaction, verify_origin_signature
from .transaction import StacksTransaction, postsign_sighash, presign_sighash
from .wire import U64_MAX

__all__ = [
    "EMPTY_SIGNATURE",
    "FUNGIBLE_CODES",
    "MAINNET",
    "MULTI_SIG_MODES",
    "NON_FUNGIBLE_CODES",
    "SINGLE_SIG_MODES",
    "TESTNET",
    "U64_MAX",
    "AnchorMode",
    "AuthField",
    "AuthType",
    "ContractCallPayload",
    "FungibleComparator",
    "FungiblePostCondition",
    "HashMode",
    "MultiSigSpendingCondition",
    "NonFungibleComparator",
    "NonFungiblePostCondition",
    "Payload",
    "PayloadType",
    "PostCondition",
    "PostConditionMode",
    "PreparedContractCall",
    "PubKeyEncoding",
    "SingleSigSpendingCondition",
    "SmartContractPayload",
    "SpendingCondition",
    "StacksNetwork",
    "StacksTransaction",
    "StxPostCondition",
    "TokenTransferPayload",
    "TransactionSigner",
    "deserialize_transaction",
    "make_contract_call",
    "make_unsigned_contract_call",
    "network_from",
    "post_condition_to_hex",
    "post_condition_to_json",
    "postsign_sighash",
    "prepare_contract_call",
    "presign_sighash",
    "sign_transaction",
    "stx_post_condition",
    "verify_origin_signature",
]
