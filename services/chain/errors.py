"""Typed errors of the chain layer. Nothing here ever carries key material."""

from __future__ import annotations

from typing import Any


class ChainError(Exception):
    """Base class of every error raised by ``services.chain``."""


class ClarityDecodeError(ChainError, ValueError):
    """Malformed, truncated, non-canonical or hostile Clarity bytes."""


class ClarityEncodeError(ChainError, ValueError):
    """A Python value that cannot become a Clarity value (out of range, bad name, ...)."""


class AddressError(ChainError, ValueError):
    """A malformed c32check address, a bad checksum or an unknown version."""


class TransactionDecodeError(ChainError, ValueError):
    """Malformed or unsupported serialized transaction."""


class SignatureError(ChainError, ValueError):
    """A signature that is malformed or does not verify."""


class InvalidPrivateKey(ChainError, ValueError):
    """A private key that cannot be loaded (the message never includes the key)."""


# Network level -------------------------------------------------------------------------------------------


class StacksApiUnavailable(ChainError):
    """The Stacks API could not be reached or kept failing after the bounded retries."""


class ChainProtocolError(ChainError):
    """The Stacks API answered something this client does not understand (malformed JSON, wrong shape)."""


class ChainNotFound(ChainError):
    """The resource (transaction, block, contract) does not exist on the API."""


class CursorNotFound(ChainNotFound):
    """The contract-logs cursor no longer exists (e.g. its event was orphaned)."""


class ReadOnlyCallError(ChainError):
    """A read-only call that the node refused (``okay: false``); ``cause`` is the node's text."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"read-only call failed: {cause}")
        self.cause = cause


# Broadcast rejections (POST /v2/transactions answered 400) ------------------------------------------------
#
# stacks-core's ``MemPoolRejection`` reasons as ``into_json`` writes them: ``{txid, error, reason, reason_data?}``,
# where ``reason_data`` is present only for the reasons that carry data (docs/operations.md lists them all and
# what the backend-transaction queue does with each: services/backend_txs/rejections.py).


def _int(value: Any) -> int | None:
    """A u64 number, or a ``0x`` hex u128 string (NotEnoughFunds writes its amounts that way); None for anything
    else, so a malformed answer can never become a nonce or a fee."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**64 else None
    if isinstance(value, str) and value.lower().startswith("0x") and 2 < len(value) <= 34:
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


class BroadcastRejected(ChainError):
    """The node rejected a transaction. ``reason`` is the node's reason string, ``reason_data`` its details."""

    reason: str = "Other"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        reason_data: Any = None,
        txid: str | None = None,
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.reason_data = reason_data
        self.txid = txid

    def _data(self, key: str) -> Any:
        return self.reason_data.get(key) if isinstance(self.reason_data, dict) else None

    @property
    def node_message(self) -> str | None:
        """The node's ``reason_data.message`` (serialization, signature, database and other failures)."""
        message = self._data("message")
        return message if isinstance(message, str) else None

    @property
    def detail(self) -> str:
        """One line for the operator: the reason and what its data says."""
        return self.reason + (f": {self.node_message}" if self.node_message else "")


class _ExpectedActual(BroadcastRejected):
    """Reasons whose data is ``{expected, actual}`` (a nonce, a fee or an amount)."""

    @property
    def expected(self) -> int | None:
        return _int(self._data("expected"))

    @property
    def actual(self) -> int | None:
        return _int(self._data("actual"))


class BadNonce(_ExpectedActual):
    """``{expected, actual, principal, is_origin}``: the node wants nonce ``expected``."""

    reason = "BadNonce"

    @property
    def detail(self) -> str:
        return f"BadNonce: the node expects nonce {self.expected}, the transaction has {self.actual}"


class TooMuchChaining(_ExpectedActual):
    """``{message, expected: the highest nonce the mempool takes, actual, principal, is_origin}``."""

    reason = "TooMuchChaining"

    @property
    def detail(self) -> str:
        return f"TooMuchChaining: nonce {self.actual} is past the mempool's chaining limit (at most {self.expected})"


class FeeTooLow(_ExpectedActual):
    """``{expected, actual}`` in uSTX: the node's minimum fee for this transaction and the fee it had."""

    reason = "FeeTooLow"

    @property
    def detail(self) -> str:
        return f"FeeTooLow: the node wants at least {self.expected} uSTX, the fee was {self.actual}"


class NotEnoughFunds(_ExpectedActual):
    """``{expected, actual}`` as 0x hex u128: what the transaction needs and what the sender holds."""

    reason = "NotEnoughFunds"

    @property
    def detail(self) -> str:
        return f"NotEnoughFunds: the sender needs {self.expected} uSTX and holds {self.actual}"


class ContractAlreadyExists(BroadcastRejected):
    reason = "ContractAlreadyExists"

    @property
    def detail(self) -> str:
        return f"ContractAlreadyExists: {self._data('contract_identifier')}"


class TransferRecipientCannotEqualSender(BroadcastRejected):
    reason = "TransferRecipientCannotEqualSender"


class SignatureValidation(BroadcastRejected):
    reason = "SignatureValidation"


class NoSuchContract(BroadcastRejected):
    reason = "NoSuchContract"


class NoSuchPublicFunction(BroadcastRejected):
    reason = "NoSuchPublicFunction"


class BadFunctionArgument(BroadcastRejected):
    reason = "BadFunctionArgument"


class Deserialization(BroadcastRejected):
    reason = "Deserialization"


class ConflictingNonceInMempool(BroadcastRejected):
    """Another transaction of the sender holds this nonce in the mempool and this one does not pay more."""

    reason = "ConflictingNonceInMempool"


REJECTION_TYPES: dict[str, type[BroadcastRejected]] = {
    cls.reason: cls
    for cls in (
        BadNonce,
        TooMuchChaining,
        FeeTooLow,
        NotEnoughFunds,
        ContractAlreadyExists,
        TransferRecipientCannotEqualSender,
        SignatureValidation,
        NoSuchContract,
        NoSuchPublicFunction,
        BadFunctionArgument,
        Deserialization,
        ConflictingNonceInMempool,
    )
}
