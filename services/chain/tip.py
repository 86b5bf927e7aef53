"""A short-lived cache of the chain tip, so a burst of quotes asks the Stacks API once, not once each."""

from __future__ import annotations

import asyncio
import time

from services.chain.api_client import StacksApiClient, StacksTip


class TipCache:
    def __init__(self, client: StacksApiClient, max_age_s: float = 1.0) -> None:
        self._client = client
        self._max_age = max_age_s
        self._tip: StacksTip | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def tip(self) -> StacksTip:
        async with self._lock:
            if self._tip is None or time.monotonic() - self._at > self._max_age:
                self._tip = await self._client.get_tip()
                self._at = time.monotonic()
            return self._tip

    def invalidate(self) -> None:
        """Forget the cached tip (after mining on a devnet, or when a caller knows the chain moved)."""
        self._tip = None

    async def burn_height(self) -> int:
        return (await self.tip()).burn_block_height
