"""The service-level singleton jobs the worker runs beside the chain listener, each under its own lease:

- `oracle` (every ORACLE_POLL_INTERVAL_S): polls the price sources into `prices`; with the local feed it first
  reloads the operator's prices, so every process samples the same ones.
- `expiration` (every EXPIRATION_CHECK_INTERVAL_S): Active policies past their height → Expiring, with their
  `update-policy-status(u2)` queued.
- `backend-txs` (every BACKEND_TX_INTERVAL_S): signs, sends and follows queued backend transactions; one process
  sends, so there is one nonce sequence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.core.fencing import Fence
from services.jobs.runner import SingletonJob

if TYPE_CHECKING:
    from policy_registry.container import Services


class OraclePollJob:
    name = "oracle"

    def __init__(self, services: Services) -> None:
        self._services = services

    async def run_once(self, fence: Fence) -> Any:
        # Samples are append-only and aggregation takes the newest per source: a second poller would only add
        # samples, so no write here needs the fence.
        if self._services.local_prices is not None:
            await self._services.local_prices.load()
        return await self._services.oracle.refresh()


class ExpirationJob:
    name = "expiration"

    def __init__(self, services: Services) -> None:
        self._services = services

    async def run_once(self, fence: Fence) -> Any:
        # Each policy moves by a conditional transition behind the lease fence: a runner that lost the lease moves
        # none, and even two runners could not expire one twice.
        if self._services.lifecycle is None:
            return None
        return await self._services.lifecycle.check_expirations(fence=fence)


def service_jobs(services: Services) -> list[tuple[SingletonJob, float]]:
    settings = services.settings
    jobs: list[tuple[SingletonJob, float]] = [(OraclePollJob(services), settings.oracle_poll_interval_s)]
    if services.lifecycle is not None:
        jobs.append((ExpirationJob(services), settings.expiration_check_interval_s))
    if services.backend_sender is not None:  # without a chain and a backend key there is nothing to send
        jobs.append((services.backend_sender, settings.backend_tx_interval_s))
    return jobs
