"""Wallet sign-in: a one-time challenge, the wallet's Stacks message signature over it, then a session token.

Challenges and sessions are stored by `services/store/auth.py`, which expires both.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import coincurve

from services.auth.addresses import Network, sign_in_address
from services.auth.models import Challenge, IssuedSession, Session
from services.auth.tokens import new_token, token_key
from services.chain.hashing import hash160
from services.chain.signing import verify_message_signature
from services.core.clock import now_utc
from services.core.errors import BadInput, QuotaExceeded, Unauthenticated
from services.core.input_bounds import PUBLIC_KEY, SESSION_TOKEN, SIGNATURE, bounded
from services.store.auth import ChallengeRepository, SessionRepository
from services.store.mongo import Document, MongoStore

log = logging.getLogger(__name__)

SERVICE_NAME = "BitHedge Policy Registry"


@dataclass(frozen=True)
class ChallengeBounds:
    """Open (unexpired, unused) challenges one client IP may hold, and one address may have, at once. Over either,
    a new challenge is refused: an open challenge is never dropped to make room, so nobody can evict a wallet's
    sign-in in progress by asking for challenges in its name."""

    per_client: int = 10
    per_address: int = 20


def challenge_message(address: str, network: str, nonce: str, issued_at: datetime, expires_at: datetime) -> str:
    """The text the wallet shows and signs (Stacks message signing); every line binds the signature to this
    service, this account, this network and this one attempt."""
    return (
        f"{SERVICE_NAME} wants you to sign in with your Stacks account:\n"
        f"{address}\n"
        "\n"
        "Sign this message to prove you own this address. It costs nothing and sends no transaction.\n"
        "\n"
        f"Network: {network}\n"
        f"Nonce: {nonce}\n"
        f"Issued At: {_iso(issued_at)}\n"
        f"Expiration Time: {_iso(expires_at)}"
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_public_key(public_key: str) -> bytes:
    bounded(public_key, "publicKey", PUBLIC_KEY)
    text = public_key[2:] if public_key[:2] in ("0x", "0X") else public_key
    try:
        raw = bytes.fromhex(text)
        coincurve.PublicKey(raw)
    except Exception as exc:  # ValueError from hex, coincurve's own errors for a point off the curve
        raise BadInput("publicKey must be a hex secp256k1 public key (33 bytes compressed)", field="publicKey") from exc
    if len(raw) not in (33, 65):
        raise BadInput("publicKey must be a hex secp256k1 public key (33 bytes compressed)", field="publicKey")
    return raw


def _parse_signature(signature: str) -> bytes:
    bounded(signature, "signature", SIGNATURE)
    text = signature[2:] if signature[:2] in ("0x", "0X") else signature
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise BadInput("signature must be hex (65 bytes: r, s, recovery id)", field="signature") from exc
    if len(raw) != 65:
        raise BadInput("signature must be hex (65 bytes: r, s, recovery id)", field="signature")
    return raw


def _session(doc: Document) -> Session:
    return Session(
        address=doc["address"],
        public_key=doc["public_key"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        key=doc["_id"],
    )


class AuthService:
    def __init__(
        self,
        store: MongoStore,
        network: Network,
        challenge_ttl_s: int,
        session_ttl_s: int,
        clock: Callable[[], datetime] = now_utc,
        challenge_bounds: ChallengeBounds | None = None,
    ) -> None:
        self._challenges = ChallengeRepository(store)
        self._sessions = SessionRepository(store)
        self.network: Network = network
        self.challenge_ttl = timedelta(seconds=challenge_ttl_s)
        self.session_ttl = timedelta(seconds=session_ttl_s)
        self._now = clock
        self.challenge_bounds = challenge_bounds or ChallengeBounds()

    async def challenge(self, address: str, client: str | None = None) -> Challenge:
        """A one-time message for `address` to sign, asked for by `client` (its IP; None when unknown)."""
        parsed = sign_in_address(address, self.network)
        canonical = str(parsed)
        now = self._now()
        nonce = secrets.token_hex(16)
        expires_at = now + self.challenge_ttl
        message = challenge_message(canonical, self.network, nonce, now, expires_at)
        # Refused before any write when a bound is reached already (a flood costs one count per request). Then
        # insert and count again, this one included: concurrent requests each count every insert before theirs, so
        # the bound holds without a lock; an over-bound request removes only its own challenge.
        refusal = await self._over_bound(canonical, client, now, pending=1)
        if refusal is None:
            await self._challenges.insert(
                {
                    "_id": nonce,
                    "address": canonical,
                    "client": client,
                    "message": message,
                    "created_at": now,
                    "expires_at": expires_at,
                    "used_at": None,
                }
            )
            refusal = await self._over_bound(canonical, client, now, pending=0)
            if refusal is not None:
                await self._challenges.delete(nonce)
        if refusal is not None:
            log.info("challenge for %s refused: %s", canonical, refusal.details.get("limit"))
            raise refusal
        return Challenge(address=canonical, message=message, expires_at=expires_at)

    async def _over_bound(self, address: str, client: str | None, now: datetime, pending: int) -> QuotaExceeded | None:
        """The bound a new challenge would pass, `pending` being the challenges not inserted yet (1 or 0)."""
        bounds = self.challenge_bounds
        retry_after = int(self.challenge_ttl.total_seconds())
        per_client = await self._challenges.count_open_by_client(client, now) if client else 0
        if per_client + pending > bounds.per_client:
            return QuotaExceeded(
                f"this client holds {bounds.per_client} open sign-in challenges already; sign one in or wait "
                "until they expire",
                limit="challengesPerClient",
                max=bounds.per_client,
                retryAfter=retry_after,
            )
        per_address = await self._challenges.count_open_by_address(address, now)
        if per_address + pending > bounds.per_address:
            return QuotaExceeded(
                f"this address has {bounds.per_address} open sign-in challenges already; sign one in or wait "
                "until they expire",
                limit="challengesPerAddress",
                max=bounds.per_address,
                retryAfter=retry_after,
            )
        return None

    async def authenticate(
        self, address: str, public_key: str, signature: str, client: str | None = None
    ) -> IssuedSession:
        """Verify the wallet's signature over one of the address's open challenges; consume it; open a session."""
        parsed = sign_in_address(address, self.network)
        canonical = str(parsed)
        key = _parse_public_key(public_key)
        sig = _parse_signature(signature)
        # The address is derived from the key: a signature by any other key cannot sign in as this address.
        if hash160(key) != parsed.hash160:
            log.info("sign-in refused for %s: the public key does not match the address", canonical)
            raise Unauthenticated("sign-in failed: the public key does not belong to this address")
        now = self._now()
        # Every open challenge of the address is a candidate (at most `per_address`, plus refused ones not yet
        # removed): whoever else asked for challenges in its name, the wallet's own one is among them. The
        # caller's own challenges are tried first.
        most = 2 * self.challenge_bounds.per_address
        open_challenges = await self._challenges.open_for(canonical, now, most)
        open_challenges.sort(key=lambda c: c.get("client") != client)
        signed = next((c for c in open_challenges if verify_message_signature(c["message"], sig, key)), None)
        if signed is None:
            log.info("sign-in refused for %s: no open challenge matches the signature", canonical)
            raise Unauthenticated(
                "sign-in failed: the signature matches no open challenge for this address "
                "(it may have expired or been used); request a new challenge"
            )
        if not await self._challenges.consume(signed["_id"], now):
            raise Unauthenticated("sign-in failed: this challenge was already used; request a new one")
        token = new_token()
        doc: dict[str, Any] = {
            "_id": token_key(token),
            "address": canonical,
            "public_key": key.hex(),
            "created_at": now,
            "expires_at": now + self.session_ttl,
            "revoked_at": None,
        }
        await self._sessions.insert(doc)
        log.info("signed in %s (session until %s)", canonical, _iso(doc["expires_at"]))
        return IssuedSession(session=_session(doc), token=token)

    async def session(self, token: str) -> Session:
        """The live session behind a bearer token; Unauthenticated for an unknown, expired or revoked one."""
        if len(token) > SESSION_TOKEN:  # never issued: no need to hash it
            raise Unauthenticated("the session token is not valid (expired, revoked or unknown); sign in again")
        doc = await self._sessions.live(token_key(token), self._now())
        if doc is None:
            raise Unauthenticated("the session token is not valid (expired, revoked or unknown); sign in again")
        return _session(doc)

    async def is_live(self, session: Session) -> bool:
        """Whether `session` is still open (not expired, not signed out): long-lived subscriptions re-check."""
        if session.expires_at <= self._now():
            return False
        return await self._sessions.is_unrevoked(session.key)

    async def sign_out(self, session: Session) -> None:
        await self._sessions.revoke(session.key, self._now())
        log.info("signed out %s", session.address)
