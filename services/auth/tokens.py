"""Session tokens: 32 random bytes, URL-safe; the database keeps only their sha256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_key(token: str) -> str:
    """The stored form of a token: a leaked `sessions` collection yields no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time equality that does not leak the expected secret's length either (both sides are hashed)."""
    a = hashlib.sha256(presented.encode("utf-8")).digest()
    b = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(a, b)
