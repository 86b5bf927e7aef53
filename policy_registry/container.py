"""The composition root's object graph: one instance of each service per process, built from settings."""

from __future__ import annotations

from dataclasses import dataclass

from policy_registry.settings import Settings
from services.policies.queries import PolicyQueries
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository


@dataclass
class Services:
    settings: Settings
    store: MongoStore
    policies: PolicyRepository
    policy_queries: PolicyQueries

    @classmethod
    async def create(cls, settings: Settings, mongodb_uri: str) -> Services:
        store = MongoStore(mongodb_uri, settings.mongodb_database, settings.mongodb_timeout_ms)
        await store.ensure_indexes()
        policies = PolicyRepository(store)
        return cls(
            settings=settings,
            store=store,
            policies=policies,
            policy_queries=PolicyQueries(policies, settings.max_page_size, settings.default_page_size),
        )

    async def close(self) -> None:
        await self.store.close()
