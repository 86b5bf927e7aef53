"""What the backend-transaction queue does with each reason a Stacks node gives for refusing a transaction.

``POST /v2/transactions`` answers 400 with ``{txid, error, reason, reason_data?}``; the reasons are stacks-core's
``MemPoolRejection`` variants (``MemPoolRejection::into_json``), and Hiro's API passes them through unchanged.
Every reason gets one of four actions:

- ``fresh_nonce``: the nonce was used, skipped or taken; re-sign with the nonce the node expects (at once);
- ``bump_fee``: re-sign with the fee the node asks for, or half again as much for a replacement, never above the
  cap (``FeePolicy.maximum``); a fee that would have to pass the cap stops instead;
- ``wait``: the cause is outside this transaction (funds, the node, the mempool); retry with backoff, and fail
  the attempt once its retries are spent;
- ``stop``: retrying cannot help; the attempt fails at once with the reason and the policy becomes
  FailedSettlement / FailedExpiration, for the operator to fix the cause and retry.

``alert`` marks what only the operator can end (funding, configuration, a bug): the transaction carries an
``alert`` in ``backend_txs`` and ``/metrics`` counts it in ``backend_tx_alerts{reason}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Action(StrEnum):
    FRESH_NONCE = "fresh_nonce"
    BUMP_FEE = "bump_fee"
    WAIT = "wait"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class Handling:
    action: Action
    alert: bool
    meaning: str


def _h(action: Action, alert: bool, meaning: str) -> Handling:
    return Handling(action, alert, meaning)


F, B, W, S = Action.FRESH_NONCE, Action.BUMP_FEE, Action.WAIT, Action.STOP
_NOT_SENT = "a kind of transaction the queue never sends: a bug"

HANDLING = MappingProxyType(
    {
        "Serialization": _h(S, True, "the node could not handle the transaction's encoding: a bug in the encoder"),
        "Deserialization": _h(S, True, "the node could not parse the bytes: a bug in the encoder"),
        "TooMuchChaining": _h(W, False, "25 backend transactions already wait in the mempool; retried as they confirm"),
        "BadTransactionVersion": _h(S, True, "signed for another network than the node's: check STACKS_NETWORK"),
        "SignatureValidation": _h(S, True, "the signature does not verify: the backend key or the signer is broken"),
        "FeeTooLow": _h(B, False, "below the node's minimum fee: re-signed at the fee it asks for, within the cap"),
        "TransferRecipientCannotEqualSender": _h(S, True, f"an STX transfer to oneself, {_NOT_SENT}"),
        "TransferAmountMustBePositive": _h(S, True, f"an STX transfer of zero, {_NOT_SENT}"),
        "BadNonce": _h(F, False, "the nonce was used or skipped: re-signed with the nonce the node expects"),
        "NotEnoughFunds": _h(W, True, "the backend principal cannot pay the fee: fund it; the queue retries"),
        "EstimatorError": _h(W, False, "the node's fee estimator failed; retried later"),
        "NoSuchContract": _h(S, True, "REGISTRY_CONTRACT_ID names no contract on this node: check it and the network"),
        "NoSuchPublicFunction": _h(S, True, "the deployed registry has no such public function: another version"),
        "BadFunctionArgument": _h(S, True, "the arguments do not fit the deployed registry's ABI: another version"),
        "ConflictingNonceInMempool": _h(
            F,
            False,
            "another backend transaction holds this nonce in the mempool: re-signed with a fresh nonce "
            "(a replacement of our own waiting transaction bumps its fee instead)",
        ),
        "ContractAlreadyExists": _h(S, True, f"a contract deploy, {_NOT_SENT}"),
        "PoisonMicroblocksDoNotConflict": _h(S, True, f"a poison-microblock report, {_NOT_SENT}"),
        "PoisonMicroblockHasUnknownPubKeyHash": _h(S, True, f"a poison-microblock report, {_NOT_SENT}"),
        "PoisonMicroblockIsInvalid": _h(S, True, f"a poison-microblock report, {_NOT_SENT}"),
        "BadAddressVersionByte": _h(S, True, "an address of the other network (mainnet vs testnet): check settings"),
        "NoCoinbaseViaMempool": _h(S, True, f"a coinbase, {_NOT_SENT}"),
        "NoTenureChangeViaMempool": _h(S, True, f"a tenure change, {_NOT_SENT}"),
        "ServerFailureNoSuchChainTip": _h(W, False, "the node has no chain tip (still syncing); retried later"),
        "ServerFailureDatabase": _h(W, False, "the node's database failed; retried later"),
        "TemporarilyBlacklisted": _h(W, False, "the node refuses this transaction for a while; retried later"),
        "ServerFailureOther": _h(W, True, "the node failed for another reason (its message says which); retried"),
    }
)

# A reason this service does not know (a newer node), or a 400 that is not the node's JSON: retried like a
# `wait`, bounded by the attempt's retries, and shown to the operator.
UNKNOWN = Handling(W, True, "a refusal this service does not know; retried, then failed")


def handling_for(reason: str) -> Handling:
    return HANDLING.get(reason, UNKNOWN)


# What the node says is stored and labelled in metrics: keep it bounded, whatever a faulty or hostile node sends.
_REASON = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_INT64 = 2**63


def recorded_reason(reason: str) -> str:
    """The reason as recorded and used as a metrics label: a known name, or an identifier-like one, else Other."""
    return reason if reason in HANDLING or _REASON.fullmatch(reason) else "Other"


def recorded_data(data: Any, limit: int = 2000) -> Any:
    """`reason_data` as stored in `backend_txs`: JSON values, integers past int64 as strings, at most `limit`
    characters of JSON (else the truncated text)."""

    def storable(value: Any, depth: int = 0) -> Any:
        if isinstance(value, bool) or value is None or isinstance(value, str | float):
            return value
        if isinstance(value, int):
            return value if -_INT64 <= value < _INT64 else str(value)
        if depth < 4 and isinstance(value, dict):
            return {str(k): storable(v, depth + 1) for k, v in value.items()}
        if depth < 4 and isinstance(value, list):
            return [storable(v, depth + 1) for v in value]
        return str(value)[:200]

    if data is None:
        return None
    text = json.dumps(data, default=str)
    return storable(data) if len(text) <= limit else {"truncated": text[:limit]}
