"""Wallet sign-in: `authChallenge`, `authenticate`, `signOut`, `me`."""

from __future__ import annotations

from resolvers.context import Info
from resolvers.permissions import current_session, require_session
from resolvers.policies import owner_lister
from schema.auth_types import AuthChallenge, AuthPayload, SessionInfo


async def me(info: Info) -> SessionInfo | None:
    session = await current_session(info)
    return SessionInfo.from_session(session, owner_lister(info, session.address)) if session else None


def _client(info: Info) -> str | None:
    """The socket peer's IP (uvicorn runs without proxy headers, so a client cannot choose it)."""
    peer = info.context.request.client
    return peer.host if peer is not None else None


async def auth_challenge(info: Info, address: str) -> AuthChallenge:
    challenge = await info.context.services.auth.challenge(address, _client(info))
    return AuthChallenge.from_challenge(challenge)


async def authenticate(info: Info, address: str, public_key: str, signature: str) -> AuthPayload:
    issued = await info.context.services.auth.authenticate(address, public_key, signature, _client(info))
    return AuthPayload.from_issued(issued, owner_lister(info, issued.session.address))


async def sign_out(info: Info) -> bool:
    session = await require_session(info)
    await info.context.services.auth.sign_out(session)
    info.context.auth_memo.clear()
    return True
