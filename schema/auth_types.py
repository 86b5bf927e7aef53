"""Wallet sign-in types: the challenge to sign, the session, and `authenticate`'s result."""

from __future__ import annotations

from datetime import datetime

import strawberry

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


@strawberry.type(name="Session", description="A signed-in wallet.")
class SessionInfo:
    address: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_session(cls, session: SessionRecord) -> SessionInfo:
        return cls(address=session.address, created_at=session.created_at, expires_at=session.expires_at)


@strawberry.type(description="A new session. The token is shown here once; the service keeps only its hash.")
class AuthPayload:
    token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>` (HTTP) or in the WebSocket connection_init payload "
        '(`{"authorization": "Bearer <token>"}`).'
    )
    session: SessionInfo

    @classmethod
    def from_issued(cls, issued: IssuedSession) -> AuthPayload:
        return cls(token=issued.token, session=SessionInfo.from_session(issued.session))
