"""Signed-in sessions for API tests that are about something else than signing in (tests/api/test_auth_*.py
sign in for real): a session stored the way `authenticate` stores it."""

from __future__ import annotations

from datetime import timedelta

from services.auth.tokens import new_token, token_key
from services.core.clock import now_utc
from services.store.mongo import MongoStore


async def open_session(store: MongoStore, address: str, ttl_s: int = 3600) -> str:
    token = new_token()
    now = now_utc()
    await store.db.sessions.insert_one(
        {
            "_id": token_key(token),
            "address": address,
            "public_key": "02" + "11" * 32,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl_s),
            "revoked_at": None,
        }
    )
    return token


async def revoke(store: MongoStore, token: str) -> None:
    await store.db.sessions.update_one({"_id": token_key(token)}, {"$set": {"revoked_at": now_utc()}})
