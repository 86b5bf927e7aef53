"""One place that turns the exceptions of the service's building blocks into the API's coded errors.

The chain layer, the oracle and the premium calculator keep their own exception types (they are usable on their
own); the GraphQL layer asks `to_service_error` what a caught exception means for a client.
"""

from __future__ import annotations

from pymongo.errors import ConnectionFailure

from services.chain import errors as chain_errors
from services.core import errors
from services.core.prices import PriceUnavailable
from services.premium.errors import PremiumInputError


def to_service_error(exc: BaseException) -> errors.ServiceError | None:
    """The coded error `exc` stands for, or None when it is unexpected (a bug: masked as INTERNAL)."""
    if isinstance(exc, errors.ServiceError):
        return exc
    if isinstance(exc, ConnectionFailure):  # includes server-selection timeouts and AutoReconnect
        return errors.StoreUnavailable("the database is unavailable; retry shortly")
    if isinstance(exc, (chain_errors.StacksApiUnavailable, chain_errors.ChainProtocolError)):
        return errors.ChainUnavailable("the Stacks API is unavailable; retry shortly")
    if isinstance(exc, PriceUnavailable):
        return errors.OracleUnavailable(str(exc), asset=exc.asset.value, reason=exc.reason.value)
    if isinstance(exc, PremiumInputError):
        return errors.BadInput(exc.message, field=exc.field)
    return None
