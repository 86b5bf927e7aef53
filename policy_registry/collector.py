"""Garbage collection kept off the fan-out path.

With thousands of open subscriptions the process holds millions of objects the cyclic collector tracks (each
connection's protocol, tasks, generators, contexts). A full collection walks all of them: at 5,000 subscribers it
paused the event loop for 0.8–4.5 s, and it ran whenever the allocation counters said so, typically inside the
publisher's loop during a change. So:

- once the app has started, everything built so far (modules, schema, settings, pools) is frozen
  (`gc.freeze()`): the collector never walks it again;
- when new subscriptions stop arriving (the subscriber count is steady for `settle_s`), the objects of the
  connections that opened meanwhile are frozen too, so automatic collections walk only what is young;
- the young generation's threshold is raised (`gc_threshold0`), so a burst of deliveries triggers fewer young
  collections;
- frozen objects that later become unreachable cycles (a closed connection's, ~12 KiB per subscription) are
  reclaimed by one full collection (unfreeze, collect, freeze) every `GC_FULL_COLLECTION_INTERVAL_S`, a pause at a
  known rate instead of at random, or sooner once as many subscriptions have ended since the last one as are open
  (at least `CHURN_FLOOR`): a churn of connections holds at most about as much as the open ones, not an hour of
  closed ones. That is CPython's own rule for its oldest generation, counted in subscriptions.

Objects freed by reference counting (nearly all) are freed at once, frozen or not. docs/performance.md has the
measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

CHURN_FLOOR = 1000  # ended subscriptions that always wait for a full collection (~12 MiB of cycles at most)


def freeze_after_start(threshold0: int) -> tuple[int, int, int]:
    """Everything that exists once the app has started lives as long as the process. Returns the thresholds before,
    for `thaw`."""
    gc.freeze()
    before = gc.get_threshold()
    gc.set_threshold(threshold0, before[1], before[2])
    return before


def thaw(thresholds: tuple[int, int, int]) -> None:
    """Undo `freeze_after_start` when the app stops: a process that goes on (tests, an embedding) gets its collector
    back as it was, and the frozen objects collectable again."""
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class CollectorSchedule:
    """Freezes the objects of new subscriptions once they settle, and runs the periodic full collection."""

    def __init__(
        self,
        subscriber_count: Callable[[], int],
        full_interval_s: float,
        settle_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        ended_count: Callable[[], int] | None = None,
        churn_floor: int = CHURN_FLOOR,
    ) -> None:
        """`ended_count`: subscriptions ended so far (a counter that only grows), for the churn trigger."""
        self._count = subscriber_count
        self._ended = ended_count
        self._churn_floor = churn_floor
        self._ended_at_full = 0  # the ended count at the last full collection
        self._full_interval_s = full_interval_s
        self._settle_s = settle_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.freezes = 0
        self.full_collections = 0
        self.settled_count = 0  # the subscriber count the objects were last frozen at (or fell to)
        self.ticks = 0

    def start(self) -> None:
        self.settled_count = self._count()  # what exists now was frozen at start-up
        self._ended_at_full = self._ended() if self._ended is not None else 0
        self._task = asyncio.create_task(self._run(), name="gc-schedule")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        frozen_at = last = self.settled_count
        last_full = self._clock()
        while True:
            await asyncio.sleep(self._settle_s)
            count = self._count()
            if count == last and count > frozen_at:
                gc.freeze()  # O(1): moves the tracked objects out of the generations the collector walks
                self.freezes += 1
                frozen_at = self.settled_count = count
            elif count < frozen_at:
                frozen_at = self.settled_count = count  # connections closed: growth is measured from here
            last = count
            ended = self._ended() - self._ended_at_full if self._ended is not None else 0
            periodic = self._full_interval_s > 0 and self._clock() - last_full >= self._full_interval_s
            if periodic or ended >= max(self._churn_floor, count):
                started = time.perf_counter()
                gc.unfreeze()
                collected = gc.collect()
                gc.freeze()
                self.full_collections += 1
                last_full = self._clock()
                self._ended_at_full += ended
                log.info(
                    "%s full collection: %d objects freed in %.0f ms",
                    "periodic" if periodic else f"{ended} subscriptions ended:",
                    collected,
                    (time.perf_counter() - started) * 1000,
                )
            self.ticks += 1
