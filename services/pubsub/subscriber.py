"""One subscriber's bounded, coalescing queue.

Overflow policy (docs/subscriptions.md): pending messages are keyed (a policy id, or "tip"); a newer message for
a key that is still pending replaces it in place, because every message carries the whole object at a version.
So a slow subscriber of one policy never holds more than one message. A subscriber is dropped (its next read
raises `SlowConsumer`) when it would need more than `max_pending` distinct keys, or when it has had messages
waiting for longer than `stall_timeout_s` without taking any. Publishing never waits for a subscriber.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from services.errors import ServiceError

T = TypeVar("T")


class SlowConsumer(ServiceError):
    """The subscriber fell too far behind and was dropped; resubscribe with `sinceVersion` / `since`."""

    code = "SLOW_CONSUMER"


class Subscriber(Generic[T]):
    def __init__(
        self,
        max_pending: int,
        stall_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pending: OrderedDict[str, T] = OrderedDict()
        self._max_pending = max_pending
        self._stall_timeout_s = stall_timeout_s
        self._clock = clock
        self._waiting_since = 0.0  # when the oldest untaken message arrived (or the last take)
        self._wakeup = asyncio.Event()
        self._dropped: str | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def dropped(self) -> str | None:
        """Why the subscriber was dropped, or None while it is live."""
        return self._dropped

    def offer(self, key: str, item: T, replaces: Callable[[T, T], bool] | None = None) -> bool:
        """Queue `item` under `key` without ever blocking; False when the subscriber is (now) dropped.
        `replaces(new, old)` decides whether a newer item supersedes a pending one (default: always)."""
        if self._dropped is not None or self._closed:
            return self._dropped is None
        now = self._clock()
        if self._pending and now - self._waiting_since > self._stall_timeout_s:
            self._drop(f"no message taken for {self._stall_timeout_s:g} s")
            return False
        old = self._pending.get(key)
        if old is not None:
            if replaces is None or replaces(item, old):
                self._pending[key] = item
            return True
        if len(self._pending) >= self._max_pending:
            self._drop(f"more than {self._max_pending} messages waiting")
            return False
        if not self._pending:
            self._waiting_since = now
        self._pending[key] = item
        self._wakeup.set()
        return True

    async def get(self) -> T:
        """The oldest pending message; waits for one. Raises SlowConsumer once dropped."""
        while not self._pending:
            if self._dropped is not None:
                raise SlowConsumer(
                    f"subscription dropped: the client fell behind ({self._dropped}); resubscribe with "
                    "sinceVersion/since to catch up",
                    reason=self._dropped,
                )
            self._wakeup.clear()
            await self._wakeup.wait()
        _, item = self._pending.popitem(last=False)
        self._waiting_since = self._clock()
        return item

    def close(self) -> None:
        self._closed = True
        self._pending.clear()
        self._wakeup.set()

    def _drop(self, reason: str) -> None:
        self._dropped = reason
        self._pending.clear()  # free the memory now; the client only learns of it on its next read
        self._wakeup.set()
