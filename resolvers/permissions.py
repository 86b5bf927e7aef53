"""Who is calling: the wallet session behind a bearer token, and the operator token.

HTTP sends the session token as `Authorization: Bearer <token>`; WebSockets send it in the connection_init
payload as `{"authorization": "Bearer <token>"}` or `{"token": "<token>"}`. No token means an anonymous caller;
a token that is not valid (unknown, expired, signed out) is an UNAUTHENTICATED error, never silently anonymous.
The operator token travels in the `x-operator-token` header (or connection_init `{"operatorToken": ...}`).

    session = await require_session(info)        # Session(address, public_key, created_at, expires_at)
    require_operator(info)                       # the OPERATOR_TOKEN setting, compared in constant time
"""

from __future__ import annotations

from typing import Any

from resolvers.context import Info, RequestContext
from services.auth.models import Session
from services.auth.operator import check_operator_token
from services.core.errors import Unauthenticated

_SESSION = "session"
OPERATOR_HEADER = "x-operator-token"


def _bearer(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the authorization must be 'Bearer <session token>'")
    return token.strip()


def presented_token(context: RequestContext) -> str | None:
    """The session token the caller sent, if any (connection_init payload first, then the header)."""
    params: dict[str, Any] = context.connection_params or {}
    authorization = params.get("authorization", params.get("Authorization"))
    if isinstance(authorization, str) and authorization:
        return _bearer(authorization)
    token = params.get("token")
    if isinstance(token, str) and token:
        return token
    header = context.request.headers.get("authorization")
    return _bearer(header) if header else None


def _is_websocket(context: RequestContext) -> bool:
    return context.request.scope.get("type") == "websocket"


async def session_of(context: RequestContext) -> Session | None:
    """The caller's session, None for an anonymous caller; Unauthenticated for a token that is not valid.
    HTTP requests look it up once; every WebSocket operation looks again (a long connection may outlive it)."""
    websocket = _is_websocket(context)
    if not websocket and _SESSION in context.auth_memo:
        memo: Session | None = context.auth_memo[_SESSION]
        return memo
    token = presented_token(context)
    session = await context.services.auth.session(token) if token is not None else None
    if not websocket:
        context.auth_memo[_SESSION] = session
    return session


async def current_session(info: Info) -> Session | None:
    return await session_of(info.context)


async def require_session(info: Info) -> Session:
    """The caller's session; Unauthenticated without one."""
    session = await session_of(info.context)
    if session is None:
        raise Unauthenticated("sign in first: send the session token from `authenticate` as a Bearer token")
    return session


async def viewer_address(info: Info) -> str | None:
    """The signed-in address for visibility checks (None when anonymous)."""
    session = await session_of(info.context)
    return session.address if session else None


def presented_operator_token(context: RequestContext) -> str | None:
    params: dict[str, Any] = context.connection_params or {}
    token = params.get("operatorToken")
    if isinstance(token, str) and token:
        return token
    return context.request.headers.get(OPERATOR_HEADER) or None


def require_operator(info: Info) -> None:
    """Pass when the caller presents OPERATOR_TOKEN; Unauthenticated without a token, Forbidden for a wrong one
    (or when no operator token is configured)."""
    check_operator_token(presented_operator_token(info.context), info.context.services.settings.operator_token)
