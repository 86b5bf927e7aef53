"""The service-level singleton jobs the worker runs beside the chain listener, each under its own lease
(`Services.jobs` lists them all):

- `oracle` (every ORACLE_POLL_INTERVAL_S): polls the price sources into `prices`; with the local feed it first
  reloads the operator's prices, so every process samples the same ones.
- `expiration` (every EXPIRATION_CHECK_INTERVAL_S): Active policies past their height → Expiring, with their
  `update-policy-status(u2)` queued.
- `backend-txs` (every BACKEND_TX_INTERVAL_S): signs, sends and follows queued backend transactions; one process
  sends, so there is one nonce sequence.
"""

from __future__ import annotations

from typing import Any

from services.core.fencing import Fence
from services.oracle import OracleService
from services.oracle.local_control import LocalPriceControl
from services.policies.lifecycle import LifecycleService


class OraclePollJob:
    name = "oracle"

    def __init__(self, oracle: OracleService, local_prices: LocalPriceControl | None) -> None:
        self._oracle = oracle
        self._local_prices = local_prices

    async def run_once(self, fence: Fence) -> Any:
        # Samples are append-only and aggregation takes the newest per source: a second poller would only add
        # samples, so no write here needs the fence.
        if self._local_prices is not None:
            await self._local_prices.load()
        return await self._oracle.refresh()


class ExpirationJob:
    name = "expiration"

    def __init__(self, lifecycle: LifecycleService) -> None:
        self._lifecycle = lifecycle

    async def run_once(self, fence: Fence) -> Any:
        # Each policy moves by a conditional transition behind the lease fence: a runner that lost the lease moves
        # none, and even two runners could not expire one twice.
        return await self._lifecycle.check_expirations(fence=fence)
