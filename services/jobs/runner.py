"""Running singleton jobs under leases.

:func:`run_singleton` loops forever (until ``stop`` is set): acquire the job's lease (or wait), then run
``job.run_once(lease)`` every ``interval`` seconds while a background task renews the lease every third of its
TTL. A lost lease (renewal failed, or a write's fence refused) stops the job's writes at once and sends the loop
back to acquiring. Any other exception is logged and retried after a back-off: a job never dies of a bad poll.
On stop, the lease is released so another process can take over without waiting for the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from services.core.fencing import Fence, LeaseLost
from services.store.leases import Lease
from services.store.mongo import MongoStore

log = logging.getLogger(__name__)


class SingletonJob(Protocol):
    name: str

    async def run_once(self, fence: Fence) -> Any: ...


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


async def _renew_until_lost(lease: Lease, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await _sleep_or_stop(stop, lease.ttl_s / 3)
        if stop.is_set():
            return
        try:
            if not await lease.renew():
                return
        except Exception as exc:  # a failed renewal is retried until the lease would expire
            log.warning("renewing lease %s failed: %s", lease.name, exc)


async def run_singleton(
    store: MongoStore,
    job: SingletonJob,
    holder: str,
    *,
    interval_s: float,
    ttl_s: float,
    stop: asyncio.Event,
    on_lease: Callable[[Lease], Awaitable[None]] | None = None,
) -> None:
    lease = Lease(store, job.name, holder, ttl_s)
    failures = 0
    try:
        while not stop.is_set():
            try:
                acquired = await lease.acquire()
            except Exception as exc:  # the database may be down: keep trying
                log.warning("lease %s: %s", job.name, exc)
                acquired = False
            if not acquired:
                await _sleep_or_stop(stop, min(ttl_s / 3, 2.0) * random.uniform(0.5, 1.0))
                continue
            if on_lease is not None:
                await on_lease(lease)
            renewer = asyncio.create_task(_renew_until_lost(lease, stop))
            try:
                while not stop.is_set() and lease.held and not renewer.done():
                    try:
                        await job.run_once(lease)
                        failures = 0
                    except LeaseLost as exc:
                        log.warning("job %s stopped writing: %s", job.name, exc)
                        break
                    except Exception:
                        failures += 1
                        log.exception("job %s failed (attempt %d); retrying", job.name, failures)
                        await _sleep_or_stop(stop, min(30.0, interval_s * 2 ** min(failures, 5)))
                        continue
                    await _sleep_or_stop(stop, interval_s)
            finally:
                renewer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewer
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(lease.release())
