"""Operations cancelled while the database is unreachable leave the driver usable (services/store/driver_fixes.py).

Without the fix, on Python 3.11, the first round already broke PyMongo's topology lock ("Lock is not acquired"), and
every later operation waited forever. The database is a loopback port where nothing listens: every operation waits
in server selection, which is where the cancellations land.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import socket
import sys

import pymongo.lock
from pymongo.errors import ServerSelectionTimeoutError

from services.store import driver_fixes
from services.store.mongo import MongoStore

ROUNDS = 4


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on return: connections to it are refused


async def test_operations_cancelled_during_server_selection_leave_the_driver_usable() -> None:
    store = MongoStore(f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true", "unreachable", timeout_ms=500)
    rng = random.Random(7)
    failures: list[BaseException] = []

    async def read() -> None:
        try:
            await store.db.policies.find_one({})
        except ServerSelectionTimeoutError:
            pass  # what an operation meets while the database is down
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # e.g. RuntimeError("Lock is not acquired") from a broken topology lock
            failures.append(exc)

    try:
        for _ in range(ROUNDS):
            tasks = [asyncio.create_task(read()) for _ in range(20)]
            await asyncio.sleep(rng.uniform(0, 0.05))  # they are waiting in server selection
            for task in tasks:
                if rng.random() < 0.5:
                    task.cancel()  # as graphql-core cancels a failed field's siblings
                    if rng.random() < 0.3:
                        await asyncio.sleep(0)
                        task.cancel()
            # A fresh operation still ends, with the coded error of an unreachable database, in about the
            # selection timeout; with a broken lock it would wait forever (the bound only turns that into a failure).
            async with asyncio.timeout(30):
                await read()
                await asyncio.gather(*tasks, return_exceptions=True)
        assert failures == []
    finally:
        async with asyncio.timeout(30):  # a broken lock holds close() too
            await store.close()


def test_the_fix_replaces_the_wait_the_drivers_condition_uses() -> None:
    """`_async_cond_wait` must still read `wait_for` from its module at each call, or the fix does nothing."""
    assert "await wait_for(condition.wait(), timeout)" in inspect.getsource(pymongo.lock._async_cond_wait)
    if sys.version_info < (3, 12):  # 3.12's own wait_for runs in the caller's task already
        assert pymongo.lock.wait_for is driver_fixes.wait_in_task  # type: ignore[attr-defined]
