"""The per-subscriber queue: coalescing by key, bounded, and dropping a subscriber that falls behind."""

from __future__ import annotations

import asyncio

import pytest

from services.pubsub.broker import Broker
from services.pubsub.subscriber import SlowConsumer, Subscriber


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def newer(new: tuple[str, int], old: tuple[str, int]) -> bool:
    return new[1] >= old[1]


async def test_a_newer_version_replaces_the_pending_one_in_place() -> None:
    sub: Subscriber[tuple[str, int]] = Subscriber(max_pending=10, stall_timeout_s=30)
    for key, version in [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3), ("b", 0)]:
        assert sub.offer(key, (key, version), newer)
    assert sub.pending == 3
    assert [await sub.get() for _ in range(3)] == [("a", 3), ("b", 1), ("c", 1)]  # b@0 is older: ignored


async def test_get_waits_for_the_next_message() -> None:
    sub: Subscriber[str] = Subscriber(max_pending=10, stall_timeout_s=30)
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)  # one loop turn: the waiter runs until it waits for a message
    assert not waiter.done()
    sub.offer("k", "hello")
    assert await asyncio.wait_for(waiter, 1) == "hello"


async def test_too_many_distinct_pending_messages_drop_the_subscriber() -> None:
    sub: Subscriber[int] = Subscriber(max_pending=3, stall_timeout_s=30)
    assert all(sub.offer(str(i), i) for i in range(3))
    assert not sub.offer("3", 3)
    assert sub.dropped == "more than 3 messages waiting" and sub.pending == 0  # memory released at once
    with pytest.raises(SlowConsumer) as caught:
        await sub.get()
    assert caught.value.code == "SLOW_CONSUMER"


async def test_messages_left_waiting_past_the_stall_timeout_drop_the_subscriber() -> None:
    clock = Clock()
    sub: Subscriber[int] = Subscriber(max_pending=100, stall_timeout_s=5, clock=clock)
    assert sub.offer("a", 1)
    clock.now += 4
    assert sub.offer("a", 2)  # coalesced, still within the timeout
    assert await sub.get() == 2  # taking resets the clock
    clock.now += 60  # idle for a minute with nothing pending: not stalled
    assert sub.offer("a", 3)
    clock.now += 5.5
    assert not sub.offer("b", 1)
    assert sub.dropped is not None and "5 s" in sub.dropped


async def test_broker_fans_out_once_per_subscriber_and_forgets_dropped_ones() -> None:
    broker = Broker(max_pending=2, stall_timeout_s=30)
    by_policy = broker.subscribe("policy:p1")
    by_owner = broker.subscribe("owner:o1")
    other = broker.subscribe("policy:p2")
    assert broker.publish(["policy:p1", "owner:o1"], "p1", ("p1", 1), newer) == 2
    assert await by_policy.get() == ("p1", 1) and await by_owner.get() == ("p1", 1)
    assert other.pending == 0

    for i in range(3):  # by_owner never reads: three distinct keys overflow it
        broker.publish(["owner:o1"], f"q{i}", (f"q{i}", 1), newer)
    assert by_owner.dropped is not None and broker.dropped_total == 1
    assert broker.topics("owner:") == [] and sorted(broker.topics("policy:")) == ["p1", "p2"]

    broker.unsubscribe("policy:p2", other)
    assert broker.subscriber_count() == 1


async def test_a_subscriber_that_never_reads_does_not_hold_back_the_others_or_grow() -> None:
    broker = Broker(max_pending=50, stall_timeout_s=30)
    stuck = broker.subscribe("owner:o")
    readers = [broker.subscribe("owner:o") for _ in range(20)]
    received: list[list[int]] = [[] for _ in readers]

    async def read(i: int) -> None:
        while len(received[i]) < 1000:
            received[i].append((await readers[i].get())[1])

    tasks = [asyncio.create_task(read(i)) for i in range(len(readers))]
    for version in range(1, 1001):
        broker.publish(["owner:o"], "p", ("p", version), newer)  # one policy, 1000 versions
        assert stuck.pending <= 1
        await asyncio.sleep(0)  # let readers run: each takes every version
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert all(r == list(range(1, 1001)) for r in received)
    assert stuck.pending == 1 and stuck.dropped is None  # coalesced to the newest: bounded, not dropped
    assert await stuck.get() == ("p", 1000)


# --- the direct sink: an item taken on the publisher's stack while the consumer waits -------------------------


async def _parked(sub: Subscriber[int], within: float = 1.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not sub.waiting:
        assert asyncio.get_running_loop().time() < deadline, "the consumer never waited"
        await asyncio.sleep(0)


async def test_a_direct_sink_takes_items_only_while_the_consumer_waits_with_nothing_pending() -> None:
    sub: Subscriber[int] = Subscriber(max_pending=10, stall_timeout_s=30)
    taken: list[int] = []

    def take(item: int) -> bool:
        taken.append(item)
        return True

    sub.direct = take
    assert sub.offer("a", 1)  # nobody waits: queued, as before
    assert (taken, sub.pending) == ([], 1)
    assert await sub.get() == 1
    waiter = asyncio.create_task(sub.get())
    await _parked(sub)
    assert sub.offer("a", 2) and sub.offer("b", 3)
    assert (taken, sub.pending) == ([2, 3], 0) and not waiter.done()  # the waiting consumer never woke
    sub.direct = None
    assert sub.offer("a", 4)  # queued: the consumer is woken but has not run yet
    sub.direct = take
    assert sub.offer("b", 5)  # something is pending: a direct item would overtake it, so it queues behind
    assert taken == [2, 3]
    assert await asyncio.wait_for(waiter, 1) == 4
    assert await sub.get() == 5


async def test_an_item_the_sink_declines_or_fails_on_goes_to_the_consumer(caplog: pytest.LogCaptureFixture) -> None:
    sub: Subscriber[int] = Subscriber(max_pending=10, stall_timeout_s=30)
    sub.direct = lambda item: False
    waiter = asyncio.create_task(sub.get())
    await _parked(sub)
    assert sub.offer("a", 1)
    assert await asyncio.wait_for(waiter, 1) == 1

    def broken(item: int) -> bool:
        raise RuntimeError("a bug in the sink")

    sub.direct = broken
    waiter = asyncio.create_task(sub.get())
    await _parked(sub)
    assert sub.offer("a", 2)  # the publisher's loop goes on
    assert await asyncio.wait_for(waiter, 1) == 2
    assert "direct sink failed" in caplog.text

    sub.close()
    assert sub.direct is None and sub.offer("a", 3) and sub.pending == 0  # closed: nothing is taken any more


async def test_a_consumer_cancelled_while_it_waits_is_offered_nothing_more() -> None:
    """The operation was stopped (graphql-transport-ws `complete`, graphql-ws `stop`, the client left): Strawberry
    cancels its task without waiting for it. Until the task has run, the sink must not send on its behalf: the
    client may already reuse the operation id for another subscription."""
    sub: Subscriber[int] = Subscriber(max_pending=10, stall_timeout_s=30)
    taken: list[int] = []

    def direct(item: int) -> bool:
        taken.append(item)
        return True

    sub.direct = direct
    consumer = asyncio.create_task(sub.get())
    await _parked(sub)
    consumer.cancel()  # what cleanup_operation does; the task has not run since
    assert not sub.waiting
    assert sub.offer("a", 1)
    assert taken == []
    with pytest.raises(asyncio.CancelledError):
        await consumer
