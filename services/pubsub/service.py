"""What resolvers use for live updates: scoped subscriptions and the reads that let a client catch up."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from services.core.errors import BadInput
from services.core.models import PolicyRecord
from services.pubsub.broker import TIP_TOPIC, Broker, owner_topic, policy_topic
from services.pubsub.events import TipRecord
from services.pubsub.feed import ChangeFeed
from services.pubsub.subscriber import Subscriber
from services.store.changes import LiveChanges
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository


class _Subscription:
    """`async with` → a subscriber of `topic`, unsubscribed on exit (a class, not a generator-based context manager:
    it lives as long as the subscription, and a suspended generator frame costs every idle subscriber)."""

    __slots__ = ("_broker", "_subscriber", "_topic")

    def __init__(self, broker: Broker, topic: str) -> None:
        self._broker = broker
        self._topic = topic
        self._subscriber: Subscriber[Any] | None = None

    async def __aenter__(self) -> Subscriber[Any]:
        self._subscriber = self._broker.subscribe(self._topic)
        return self._subscriber

    async def __aexit__(self, *_: object) -> None:
        if self._subscriber is not None:
            self._broker.unsubscribe(self._topic, self._subscriber)


class PubSub:
    def __init__(
        self,
        store: MongoStore,
        instance_id: str,
        max_pending: int,
        stall_timeout_s: float,
        replay_limit: int,
    ) -> None:
        self._changes = LiveChanges(store)
        self._policies = PolicyRepository(store)
        self.broker = Broker(max_pending, stall_timeout_s)
        self.feed = ChangeFeed(store, self.broker, instance_id)
        self.replay_limit = replay_limit

    def start(self) -> None:
        self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()

    def _subscription(self, topic: str) -> _Subscription:
        return _Subscription(self.broker, topic)

    def policy_changes(self, policy_id: str) -> AbstractAsyncContextManager[Subscriber[PolicyRecord]]:
        """`async with` → a subscriber of one policy's records (subscribe first, then read the current state)."""
        return self._subscription(policy_topic(policy_id))

    def owner_changes(self, owner: str) -> AbstractAsyncContextManager[Subscriber[PolicyRecord]]:
        return self._subscription(owner_topic(owner))

    def tip_changes(self) -> AbstractAsyncContextManager[Subscriber[TipRecord]]:
        return self._subscription(TIP_TOPIC)

    async def current_tip(self) -> TipRecord | None:
        doc = await self._changes.tip()
        return TipRecord.from_document(doc) if doc else None

    async def changed_since(self, owner: str, since: datetime) -> list[PolicyRecord]:
        """The owner's policies changed after `since` (updated_at), oldest change first; BadInput beyond the
        replay limit (the client should reload with `policies` and resubscribe from a later `since`)."""
        records = await self._policies.changed_since(owner, since, self.replay_limit + 1)
        if len(records) > self.replay_limit:
            raise BadInput(
                f"more than {self.replay_limit} policies changed since {since.isoformat()}: reload them with "
                "`policies` and subscribe with a later `since`",
                field="since",
                max=self.replay_limit,
            )
        return records
