"""MongoDB implementation of the oracle's `PriceSampleStore`.

`prices` holds source samples (kept two days by a TTL index, see indexes.py);
`price_daily` keeps one close per asset and UTC day, upserted with each aggregate, so volatility reads at most
31 small documents instead of a month of samples. (So `daily_closes(until=...)` knows only each day's latest
close: asked about a moment earlier today it omits today; the service only ever asks about now.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.core.prices import Asset, PriceAggregate, PriceSample
from services.store.mongo import Document, MongoStore
from services.store.names import Collection


class MongoPriceStore:
    def __init__(self, store: MongoStore) -> None:
        self._samples = store.db[Collection.PRICES]
        self._daily = store.db[Collection.PRICE_DAILY]

    async def newest_observed_at(self, asset: Asset) -> datetime | None:
        """When the newest sample of `asset` was observed (None without one): the oracle's freshness."""
        newest = await self._samples.find_one(
            {"asset": asset.value}, sort=[("observed_at", -1)], projection={"observed_at": 1}
        )
        observed = newest.get("observed_at") if newest is not None else None
        return observed if isinstance(observed, datetime) else None

    async def add(self, samples: Sequence[PriceSample]) -> None:
        if samples:
            await self._samples.insert_many(
                [
                    {
                        "source": s.source,
                        "asset": s.asset.value,
                        "price_usd8": s.price_usd8,
                        "observed_at": s.observed_at,
                    }
                    for s in samples
                ],
                ordered=False,
            )

    async def latest_per_source(self, asset: Asset, since: datetime) -> list[PriceSample]:
        pipeline: list[Document] = [
            {"$match": {"asset": asset.value, "observed_at": {"$gte": since}}},
            {"$sort": {"observed_at": -1}},
            {
                "$group": {
                    "_id": "$source",
                    "price_usd8": {"$first": "$price_usd8"},
                    "observed_at": {"$first": "$observed_at"},
                }
            },
        ]
        cursor = await self._samples.aggregate(pipeline)
        rows = await cursor.to_list(length=None)
        return [
            PriceSample(source=r["_id"], asset=asset, price_usd8=int(r["price_usd8"]), observed_at=r["observed_at"])
            for r in rows
        ]

    async def add_aggregate(self, aggregate: PriceAggregate) -> None:
        day = aggregate.as_of.date().isoformat()
        doc = {
            "asset": aggregate.asset.value,
            "day": day,
            "close_usd8": aggregate.price_usd8,
            "as_of": aggregate.as_of,
            "sources": list(aggregate.sources),
        }
        try:
            # The close of a day is its latest aggregate: only a newer one replaces it.
            await self._daily.update_one(
                {"_id": f"{aggregate.asset.value}:{day}", "as_of": {"$lte": aggregate.as_of}},
                {"$set": doc},
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # the day already has a newer close: the filter missed it and the upsert collided with it

    async def daily_closes(self, asset: Asset, days: int, until: datetime) -> list[int]:
        first_day = (until.date() - timedelta(days=days - 1)).isoformat()
        cursor = self._daily.find(
            {
                "asset": asset.value,
                "day": {"$gte": first_day, "$lte": until.date().isoformat()},
                "as_of": {"$lte": until},
            }
        ).sort("day", ASCENDING)
        return [int(d["close_usd8"]) for d in await cursor.to_list(length=days)]
