"""policy_registry/collector.py: the objects of new subscriptions are frozen once their count settles, and the
periodic full collection runs. Real garbage collector, real event loop; waits poll their signal with a deadline."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

from policy_registry.collector import CollectorSchedule, freeze_after_start, thaw


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the schedule never got there"
        await asyncio.sleep(0.01)  # polling interval of a wait with a deadline


def _collector_walks(marker: object) -> bool:
    return any(o is marker for o in gc.get_objects())  # frozen objects are in no generation the collector walks


async def test_new_subscriptions_are_frozen_once_their_count_is_steady() -> None:
    count = 0
    schedule = CollectorSchedule(lambda: count, full_interval_s=0, settle_s=0.01)
    schedule.start()
    try:
        count = 5
        await _until(lambda: schedule.freezes == 1)
        connection_state = [["a subscription's objects"]]  # made after that freeze
        assert _collector_walks(connection_state)
        count = 3  # connections closed: nothing to freeze, and the next growth is measured from here
        await _until(lambda: schedule.settled_count == 3)
        assert schedule.freezes == 1 and _collector_walks(connection_state)
        count = 4
        await _until(lambda: schedule.freezes == 2)
        assert not _collector_walks(connection_state)
        assert schedule.full_collections == 0
    finally:
        await schedule.stop()


async def test_the_periodic_full_collection_unfreezes_collects_and_freezes_again() -> None:
    schedule = CollectorSchedule(lambda: 0, full_interval_s=0.02, settle_s=0.01)
    schedule.start()
    try:
        await _until(lambda: schedule.full_collections >= 1)
        marker = [["made after the collection"]]
        assert _collector_walks(marker)
        await _until(lambda: schedule.full_collections >= 2)
        assert not _collector_walks(marker)  # frozen again after the collection
    finally:
        await schedule.stop()


async def test_a_full_collection_runs_once_as_many_subscriptions_ended_as_are_open() -> None:
    """Churn: frozen connections that close stay in memory (their reference cycles) until a full collection. An
    hourly one alone let a churn of connections pile up ~12 KiB each for up to an hour (bench: 1,000 subscribers
    reconnecting three times held 37 MiB); the schedule collects once the ended subscriptions reach the open ones
    (at least `churn_floor`)."""
    live, ended = 4, 0
    schedule = CollectorSchedule(
        lambda: live, full_interval_s=0, settle_s=0.01, ended_count=lambda: ended, churn_floor=3
    )
    schedule.start()
    try:
        await _until(lambda: schedule.settled_count == 4)
        ended = 3  # fewer than are open: nothing yet
        await _until(lambda: schedule.ticks >= 3)
        assert schedule.full_collections == 0
        ended = 4
        await _until(lambda: schedule.full_collections == 1)
        ticks = schedule.ticks
        await _until(lambda: schedule.ticks >= ticks + 3)
        assert schedule.full_collections == 1  # counted from the last collection, not from the start
        live, ended = 0, 7  # everyone left: the floor applies
        await _until(lambda: schedule.full_collections == 2)
    finally:
        await schedule.stop()


def test_the_app_gives_the_collector_back_as_it_was_when_it_stops() -> None:
    before = gc.get_threshold()
    marker = [["made before the app started"]]
    thresholds = freeze_after_start(before[0] + 1234)
    try:
        assert gc.get_threshold() == (before[0] + 1234, before[1], before[2]) and not _collector_walks(marker)
    finally:
        thaw(thresholds)
    assert gc.get_threshold() == before and _collector_walks(marker)
