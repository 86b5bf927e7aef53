"""Wallet sign-in types: the challenge to sign, the session, and `authenticate`'s result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry

from schema.enums import PolicyOrder
from schema.inputs import PolicyFilterInput
from schema.policy_types import PolicyConnection
from services.auth.models import Challenge, IssuedSession
from services.auth.models import Session as SessionRecord


@strawberry.type(description="A one-time sign-in message: sign `message` with the wallet (Stacks message signing).")
class AuthChallenge:
    address: str = strawberry.field(description="The address that must sign (canonical form).")
    message: str = strawberry.field(description="The exact text to sign.")
    expires_at: datetime = strawberry.field(description="Sign and call `authenticate` before this moment.")

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> AuthChallenge:
        return cls(address=challenge.address, message=challenge.message, expires_at=challenge.expires_at)


# Lists the session's own policies: (filter, orderBy, first, after, last, before) → a connection.
PolicyLister = Callable[
    [PolicyFilterInput | None, PolicyOrder, int | None, str | None, int | None, str | None],
    Awaitable[PolicyConnection],
]


@strawberry.type(name="Session", description="A signed-in wallet.")
class SessionInfo:
    address: str
    created_at: datetime
    expires_at: datetime
    _policies: strawberry.Private[PolicyLister]

    @strawberry.field(
        description="The wallet's own policies, its pending creations included, like `policies` with "
        "`filter.owner` set to this address (another owner there is BAD_INPUT)."
    )
    async def policies(
        self,
        filter: PolicyFilterInput | None = None,
        order_by: PolicyOrder = PolicyOrder.CREATED_AT_DESC,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> PolicyConnection:
        return await self._policies(filter, order_by, first, after, last, before)

    @classmethod
    def from_session(cls, session: SessionRecord, policies: PolicyLister) -> SessionInfo:
        return cls(
            address=session.address, created_at=session.created_at, expires_at=session.expires_at, _policies=policies
        )


@strawberry.type(description="A new session. The token is shown here once; the service keeps only its hash.")
class AuthPayload:
    token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>` (HTTP) or in the WebSocket connection_init payload "
        '(`{"authorization": "Bearer <token>"}`).'
    )
    session: SessionInfo

    @classmethod
    def from_issued(cls, issued: IssuedSession, policies: PolicyLister) -> AuthPayload:
        return cls(token=issued.token, session=SessionInfo.from_session(issued.session, policies))
