"""The operator token check: a configured shared secret, compared in constant time."""

from __future__ import annotations

from pydantic import SecretStr

from services.auth.tokens import same_secret
from services.core.errors import Forbidden, Unauthenticated


def check_operator_token(presented: str | None, configured: SecretStr | None) -> None:
    """Pass, or raise: Forbidden when no token is configured (operator operations are off) or it differs,
    Unauthenticated when none was presented."""
    if configured is None or not configured.get_secret_value():
        raise Forbidden("operator operations are disabled on this service (OPERATOR_TOKEN is not set)")
    if not presented:
        raise Unauthenticated("this operation needs the operator token (x-operator-token header)")
    if not same_secret(presented, configured.get_secret_value()):
        raise Forbidden("the operator token is not valid")
