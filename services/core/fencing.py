"""Fencing: how a write transaction proves that its job still holds its lease (docs/design.md §9).

The lease itself lives in the store (:mod:`services.store.leases`); workflows only see this protocol."""

from __future__ import annotations

from typing import Any, Protocol


class LeaseLost(Exception):
    """This process no longer holds the lease: the job must stop writing."""


class Fence(Protocol):
    """What a write transaction calls first: the store's Lease in the worker, :class:`Unfenced` for one-offs."""

    async def fence(self, session: Any) -> None: ...


class Unfenced:
    """A fence that always passes: for one-off operator runs and tests that own the database alone."""

    name = "unfenced"
    held = True

    async def fence(self, session: Any) -> None:
        return None
