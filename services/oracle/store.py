"""What the oracle needs from storage. The MongoDB implementation lives with the store layer (`prices`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.core.prices import Asset, PriceAggregate, PriceSample


class PriceSampleStore(Protocol):
    async def add(self, samples: Sequence[PriceSample]) -> None:
        """Store source samples (append-only)."""

    async def latest_per_source(self, asset: Asset, since: datetime) -> list[PriceSample]:
        """For each source, its most recent sample of `asset` observed at or after `since` (any order)."""

    async def add_aggregate(self, aggregate: PriceAggregate) -> None:
        """Store an aggregated price (the source of daily closes)."""

    async def daily_closes(self, asset: Asset, days: int, until: datetime) -> list[int]:
        """Daily closes of `asset`, oldest first: for each UTC calendar day among the `days` days ending with
        the day of `until` (inclusive) that has at least one stored aggregate at or before `until`, the
        price_usd8 of its last aggregate. Days without aggregates are skipped."""
