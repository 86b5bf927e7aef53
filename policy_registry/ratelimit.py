"""Per-client rate limits: a token bucket per client IP for HTTP requests (WebSocket handshakes included), and
one per WebSocket connection for the GraphQL operations it starts (policy_registry/websocket.py).

A refused HTTP request gets 429 with `Retry-After` and a GraphQL-shaped JSON body whose code is RATE_LIMITED.
The client IP is the socket peer: uvicorn runs with proxy headers off, so a client cannot pick its own bucket by
sending X-Forwarded-For. Health probes are never limited.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; each request takes one."""

    __slots__ = ("_burst", "_clock", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds until one will be available."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate if self._rate > 0 else math.inf


class ClientRateLimiter:
    """One bucket per client key, at most `max_clients` of them (least recently seen are forgotten)."""

    def __init__(
        self, rate: float, burst: int, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, client: str) -> float:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, self._clock)
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
        return bucket.take()


def rate_limited_body(retry_after: int) -> bytes:
    return json.dumps(
        {
            "errors": [
                {
                    "message": f"too many requests: retry in {retry_after} s",
                    "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after},
                }
            ]
        }
    ).encode()


class RateLimitMiddleware:
    """ASGI middleware: HTTP requests and WebSocket handshakes spend their client IP's tokens."""

    def __init__(self, app: ASGIApp, rate: float, burst: int, limiter: ClientRateLimiter | None = None) -> None:
        """`limiter`: one shared with another entry point (the app's WebSocket entry, policy_registry/app.py), so
        a client's HTTP requests and WebSocket handshakes spend the same tokens."""
        self.app = app
        self.limiter = (limiter or ClientRateLimiter(rate, burst)) if rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wait = self.wait(scope)
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        await self.refuse(scope, send, wait)

    def wait(self, scope: Scope) -> float:
        """0 when the request or handshake may go on (and it spent a token), else the seconds until it may."""
        if self.limiter is None or scope["type"] not in ("http", "websocket") or scope["path"] in EXEMPT_PATHS:
            return 0.0
        client = scope.get("client")
        return self.limiter.check(client[0] if client else "unknown")

    @staticmethod
    async def refuse(scope: Scope, send: Send, wait: float) -> None:
        retry_after = max(1, math.ceil(wait)) if math.isfinite(wait) else 60
        headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", str(retry_after).encode()),
        ]
        body = rate_limited_body(retry_after)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 429, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 4429, "reason": "Too many requests"})
