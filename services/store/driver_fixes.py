"""A fix to PyMongo's async driver on Python 3.11: a task cancelled during server selection must not break the
topology lock.

While no server is selectable (the database is down), an operation waits in the topology's condition
(`pymongo.lock._async_cond_wait`), through `asyncio.wait_for`. On Python 3.11, `wait_for` runs the wait in a
task of its own. When the operation's task is cancelled meanwhile, that inner task re-acquires the topology lock on
its own, after the operation has already left `async with lock` (releasing a lock it no longer held). The lock is
then held by nobody who will release it. From then on every operation, the change feed and `/readyz` included,
waits on it forever. Cancellations are ordinary: graphql-core cancels a field's siblings when one fails
(`UNAVAILABLE` during the outage), and Strawberry cancels a stopped subscription.

Seen as the API hanging after `tests/faults/test_database_restart.py` killed the database, on a loaded machine;
reproduced deterministically by `tests/services/store/test_driver_cancellation.py`. Python 3.12 reimplemented
`wait_for` on `asyncio.timeout`, so that the wait runs in the caller's own task; this module gives PyMongo that
implementation on 3.11. It changes only the timed condition wait, and nothing on 3.12 and later.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

import pymongo.lock

T = TypeVar("T")


async def wait_in_task(awaitable: Awaitable[T], timeout: float | None) -> T:  # noqa: ASYNC109 (wait_for's signature)
    """`asyncio.wait_for` as Python 3.12 has it: the awaitable runs in the caller's task, so a cancellation
    reaches the condition's own re-acquire-then-raise path."""
    async with asyncio.timeout(timeout):
        return await awaitable


def apply() -> None:
    """Called once by services/store/mongo.py, before any client exists."""
    if sys.version_info < (3, 12):
        pymongo.lock.wait_for = wait_in_task  # type: ignore[attr-defined,assignment]  # read by _async_cond_wait at each call
