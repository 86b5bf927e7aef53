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


class ChainUnavailable(ChainError):
    """The Stacks API could not be reached or kept failing after the bounded retries."""


class ChainProtocolError(ChainError):
    """The Stacks API answered something this client does not understand (malformed JSON, wrong shape)."""


class NotFound(ChainError):
    """The resource (transaction, block, contract) does not exist on the API."""


class CursorNotFound(NotFound):
    """The contract-logs cursor no longer exists (e.g. its event was orphaned)."""


class ReadOnlyCallError(ChainError):
    """A read-only call that the node refused (``okay: false``); ``cause`` is the node's text."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"read-only call failed: {cause}")
        self.cause = cause


# Broadcast rejections (POST /v2/transactions answered 400) ------------------------------------------------


class BroadcastRejected(ChainError):
    """The node rejected a transaction. ``reason`` is the node's reason string."""

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


class BadNonce(BroadcastRejected):
    reason = "BadNonce"

    @property
    def expected(self) -> int | None:
        data = self.reason_data
        if isinstance(data, dict) and isinstance(data.get("expected"), int):
            return int(data["expected"])
        return None


class NotEnoughFunds(BroadcastRejected):
    reason = "NotEnoughFunds"


class SignatureValidation(BroadcastRejected):
    reason = "SignatureValidation"


class NoSuchContract(BroadcastRejected):
    reason = "NoSuchContract"


class NoSuchPublicFunction(BroadcastRejected):
    reason = "NoSuchPublicFunction"


class Deserialization(BroadcastRejected):
    reason = "Deserialization"


class FeeTooLow(BroadcastRejected):
    reason = "FeeTooLow"


class ConflictingNonceInMempool(BroadcastRejected):
    reason = "ConflictingNonceInMempool"


REJECTION_TYPES: dict[str, type[BroadcastRejected]] = {
    cls.reason: cls
    for cls in (
        BadNonce,
        NotEnoughFunds,
        SignatureValidation,
        NoSuchContract,
        NoSuchPublicFunction,
        Deserialization,
        FeeTooLow,
        ConflictingNonceInMempool,
    )
}
