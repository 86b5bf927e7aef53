"""What the auth service hands out: challenges to sign and sessions. Neither carries a token or its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Challenge:
    """A one-time sign-in message for `address`, valid until `expires_at`."""

    address: str
    message: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in wallet. `key` identifies the stored session (the token's sha256) and is kept out of reprs."""

    address: str
    public_key: str
    created_at: datetime
    expires_at: datetime
    key: str = ""

    def __repr__(self) -> str:
        return f"Session(address={self.address!r}, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """`authenticate`'s result: the session and its bearer token, the only place the token ever appears."""

    session: Session
    token: str

    def __repr__(self) -> str:
        return f"IssuedSession({self.session!r}, token=<redacted>)"
