"""Domain errors with the stable codes the API exposes in `extensions.code` (DESIGN §8).

Services raise these; the GraphQL layer copies `code` and the safe `details` into the error's extensions. Any
other exception is unexpected and is masked as INTERNAL.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BadInput(ServiceError):
    code = "BAD_INPUT"


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"


class Forbidden(ServiceError):
    code = "FORBIDDEN"


class NotFound(ServiceError):
    code = "NOT_FOUND"


class Conflict(ServiceError):
    code = "CONFLICT"


class OracleUnavailable(ServiceError):
    code = "ORACLE_UNAVAILABLE"


class InsufficientCapacity(ServiceError):
    code = "INSUFFICIENT_CAPACITY"


class InsufficientFunds(ServiceError):
    """The wallet's STX balance on chain cannot pay what it asks for (with what its open quotes already need)."""

    code = "INSUFFICIENT_FUNDS"


class QuotaExceeded(ServiceError):
    """A per-client or per-wallet bound on what may be held open at once; `details` names the limit."""

    code = "QUOTA_EXCEEDED"


class ActivationConditionNotMet(ServiceError):
    code = "ACTIVATION_CONDITION_NOT_MET"


class ChainUnavailable(ServiceError):
    code = "CHAIN_UNAVAILABLE"


class StoreUnavailable(ServiceError):
    """The database cannot be reached; the request may be retried."""

    code = "UNAVAILABLE"
