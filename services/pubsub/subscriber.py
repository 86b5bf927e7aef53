"""One subscriber's bounded, coalescing queue.

Overflow policy (docs/subscriptions.md): pending messages are keyed (a policy id, or "tip"); a newer message for
a key that is still pending replaces it in place, because every message carries the whole object at a version.
So a slow subscriber of one policy never holds more than one message. A subscriber is dropped (its next read
raises `SlowConsumer`) when it would need more than `max_pending` distinct keys, or when it has had messages
waiting for longer than `stall_timeout_s` without taking any. Publishing never waits for a subscriber.

Direct hand-off: a consumer may attach a `direct` sink, a plain function that takes an item at once on the
publisher's stack (and does all its consumer would do with it) or declines it. The queue offers it an item only
while the consumer is parked in `get()` with nothing pending, so the sink never overtakes an item the consumer has
yet to finish; a declined item is queued as usual, under the same coalescing and dropping rules. The fan-out of a
change then costs no task switch per subscriber (policy_registry/fanout.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from services.core.errors import ServiceError

T = TypeVar("T")
log = logging.getLogger(__name__)


class SlowConsumer(ServiceError):
    """The subscriber fell too far behind and was dropped; resubscribe with `sinceVersion` / `since`."""

    code = "SLOW_CONSUMER"


class Subscriber(Generic[T]):
    __slots__ = (
        "_clock",
        "_closed",
        "_dropped",
        "_max_pending",
        "_pending",
        "_stall_timeout_s",
        "_waiter",
        "_waiting_since",
        "direct",
    )

    def __init__(
        self,
        max_pending: int,
        stall_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # insertion-ordered: a replaced item keeps its place; a dict, not an OrderedDict (half the size when empty)
        self._pending: dict[str, T] = {}
        self._max_pending = max_pending
        self._stall_timeout_s = stall_timeout_s
        self._clock = clock
        self._waiting_since = 0.0  # when the oldest untaken message arrived (or the last take)
        self._waiter: asyncio.Future[None] | None = None  # while get() waits (a bare future: an Event costs ~1 KiB)
        self._dropped: str | None = None
        self._closed = False
        # Takes an item at once (True) or declines it (False: it is queued); see the module docstring.
        self.direct: Callable[[T], bool] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def waiting(self) -> bool:
        """The consumer is parked in `get()` with nothing pending: a direct sink would be offered the next item."""
        return self._parked() and not self._pending

    def _parked(self) -> bool:
        """The consumer waits in `get()`, everything it took before fully handled, and has been neither woken nor
        cancelled since (a stopped operation's task is cancelled, not awaited: until it runs, it sends nothing)."""
        waiter = self._waiter
        return waiter is not None and not waiter.done()

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
        waiter = self._waiter  # `_parked()`, inlined: this runs per subscriber per change
        if self.direct is not None and not self._pending and waiter is not None and not waiter.done():
            if self._hand_over(item):
                return True
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
        self._wake()
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
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._pending.pop(next(iter(self._pending)))  # the oldest
        self._waiting_since = self._clock()
        return item

    def _hand_over(self, item: T) -> bool:
        assert self.direct is not None
        try:
            return self.direct(item)
        except Exception:  # a sink's bug must not stop the publisher's loop: the consumer gets the item instead
            log.exception("a subscriber's direct sink failed; the item is queued instead")
            return False

    def close(self) -> None:
        self._closed = True
        self.direct = None
        self._pending.clear()
        self._wake()

    def _drop(self, reason: str) -> None:
        self._dropped = reason
        self.direct = None
        self._pending.clear()  # free the memory now; the client only learns of it on its next read
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
