"""In-process fan-out: topics ("policy:<id>", "owner:<address>", "tip") to their subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.pubsub.subscriber import Subscriber

log = logging.getLogger(__name__)


def policy_topic(policy_id: str) -> str:
    return f"policy:{policy_id}"


def owner_topic(owner: str) -> str:
    return f"owner:{owner}"


TIP_TOPIC = "tip"


class Broker:
    def __init__(self, max_pending: int, stall_timeout_s: float) -> None:
        self.max_pending = max_pending
        self.stall_timeout_s = stall_timeout_s
        self._topics: dict[str, set[Subscriber[Any]]] = {}
        self.dropped_total = 0
        self.ended_total = 0  # subscriptions that ended (unsubscribed or dropped), each counted once

    def subscribe(self, topic: str) -> Subscriber[Any]:
        subscriber: Subscriber[Any] = Subscriber(self.max_pending, self.stall_timeout_s)
        self._topics.setdefault(topic, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, topic: str, subscriber: Subscriber[Any]) -> None:
        subscriber.close()
        self._remove(topic, subscriber)

    def publish(
        self, topics: list[str], key: str, item: Any, replaces: Callable[[Any, Any], bool] | None = None
    ) -> int:
        """Offer `item` to every subscriber of `topics` (each once); returns how many took it. Never waits."""
        delivered = 0
        seen: set[int] = set()
        for topic in topics:
            for subscriber in list(self._topics.get(topic, ())):
                if id(subscriber) in seen:
                    continue
                seen.add(id(subscriber))
                if subscriber.offer(key, item, replaces):
                    delivered += 1
                else:
                    self.dropped_total += 1
                    log.warning("dropped a slow subscriber of %s (%s)", topic, subscriber.dropped)
                    self.unsubscribe_dropped(topic, subscriber)
        return delivered

    def unsubscribe_dropped(self, topic: str, subscriber: Subscriber[Any]) -> None:
        self._remove(topic, subscriber)

    def _remove(self, topic: str, subscriber: Subscriber[Any]) -> None:
        members = self._topics.get(topic)
        if members is not None and subscriber in members:
            members.remove(subscriber)
            self.ended_total += 1
            if not members:
                del self._topics[topic]

    def topics(self, prefix: str) -> list[str]:
        """The suffixes of live topics starting with `prefix` (e.g. every watched policy id)."""
        return [t[len(prefix) :] for t in self._topics if t.startswith(prefix)]

    def subscriber_count(self) -> int:
        return sum(len(members) for members in self._topics.values())
