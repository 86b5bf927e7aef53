"""One concurrent poll of every source for every asset it lists, tolerant of any single source failing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from services.core.prices import Asset, PriceSample
from services.oracle.sources.base import PriceSource

logger = logging.getLogger(__name__)


async def _fetch_one(source: PriceSource, asset: Asset, timeout_seconds: float) -> PriceSample | None:
    try:
        async with asyncio.timeout(timeout_seconds):
            sample = await source.fetch(asset)
    except TimeoutError:
        logger.warning("price source %s timed out for %s after %.1f s", source.name, asset.value, timeout_seconds)
        return None
    except Exception as exc:  # one bad source must never stop the others
        logger.warning("price source %s failed for %s: %s: %.300s", source.name, asset.value, type(exc).__name__, exc)
        return None
    if not isinstance(sample, PriceSample) or sample.asset != asset or sample.source != source.name:
        logger.warning("price source %s returned a sample for the wrong source or asset; ignored", source.name)
        return None
    return sample


async def poll_once(
    sources: Sequence[PriceSource], assets: Iterable[Asset], *, timeout_seconds: float
) -> list[PriceSample]:
    """Fetch every (source, asset) pair the source supports, concurrently, each under its own timeout.

    Failures (HTTP errors, garbage payloads, timeouts, exceptions of any kind) are logged and skipped; the
    result holds the samples that arrived, in (source, asset) order.
    """
    wanted = list(dict.fromkeys(assets))
    pairs = [(source, asset) for source in sources for asset in wanted if asset in source.assets]
    results = await asyncio.gather(*(_fetch_one(source, asset, timeout_seconds) for source, asset in pairs))
    return [sample for sample in results if sample is not None]
