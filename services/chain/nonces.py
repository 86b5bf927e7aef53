"""Sequential nonces for one backend address under asyncio concurrency."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from .api_client import NonceInfo

log = logging.getLogger(__name__)


class NonceSource(Protocol):
    async def get_nonces(self, principal: str) -> NonceInfo: ...


class NonceManager:
    """Hands out ``chain nonce, +1, +2 …``. The chain nonce is the API's mempool-aware
    ``possible_next_nonce`` (or the node's account nonce). Call :meth:`resync` after a ``BadNonce`` (passing
    the node's expected nonce) and :meth:`release` when a nonce was taken but its transaction never reached
    the node, so no gap is left behind."""

    def __init__(self, source: NonceSource, address: str) -> None:
        self._source = source
        self.address = address
        self._lock = asyncio.Lock()
        self._next: int | None = None
        self.missing_nonces: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return f"NonceManager(address={self.address!r}, next={self._next!r})"

    async def _sync(self, at_least: int | None = None) -> None:
        info = await self._source.get_nonces(self.address)
        self.missing_nonces = info.detected_missing_nonces
        if info.detected_missing_nonces:
            log.warning("nonce gaps detected for %s: %s", self.address, list(info.detected_missing_nonces))
        self._next = max(info.possible_next_nonce, at_least or 0)

    async def next_nonce(self) -> int:
        async with self._lock:
            if self._next is None:
                await self._sync()
            assert self._next is not None
            nonce = self._next
            self._next += 1
            return nonce

    async def resync(self, expected: int | None = None) -> None:
        """Forget the local sequence and read the chain again (never below the node's ``expected``)."""
        async with self._lock:
            await self._sync(expected)

    async def release(self, nonce: int) -> None:
        """Give back an unused nonce: if it is the latest one handed out it is reused, otherwise the next
        call resyncs from the chain."""
        async with self._lock:
            if self._next is not None and nonce == self._next - 1:
                self._next = nonce
            else:
                self._next = None

    @property
    def peek(self) -> int | None:
        return self._next
