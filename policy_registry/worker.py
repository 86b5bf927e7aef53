"""The worker: the chain listener and the background jobs, each a singleton under its own lease (DESIGN §9).

Runs inside ``serve`` (``RUN_WORKER=true``, the default; the app's lifespan starts it) or alone as
``policy-registry worker``. Any number of processes may run it: per job exactly one holds the lease and writes.

| job | lease | every |
|---|---|---|
| chain listener | ``chain-listener`` | ``LISTENER_POLL_INTERVAL_S`` |
| creation-tx monitor | ``creation-monitor`` | ``TX_MONITOR_INTERVAL_S`` |
| quote expiry | ``quote-expiry`` | ``TX_MONITOR_INTERVAL_S`` |
| reconciliation | ``reconciliation`` | ``RECONCILE_INTERVAL_S`` |
| oracle polling | ``oracle`` | ``ORACLE_POLL_INTERVAL_S`` (policy_registry/jobs.py) |
| expiration check | ``expiration`` | ``EXPIRATION_CHECK_INTERVAL_S`` (policy_registry/jobs.py) |
| backend transactions | ``backend-txs`` | ``BACKEND_TX_INTERVAL_S`` (services/backend_txs; only with a backend key) |
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from policy_registry.container import Services
from policy_registry.settings import Settings
from services.chain import StacksApiClient
from services.jobs.runner import SingletonJob, run_singleton
from services.listener.poller import ChainListener
from services.store.mongo import MongoStore

log = logging.getLogger(__name__)


@dataclass
class Worker:
    """Runs `jobs` (`Services.jobs`), each under its own lease held as `holder`, until :meth:`stop`."""

    store: MongoStore
    holder: str
    lease_ttl_s: float
    jobs: list[tuple[SingletonJob, float]]
    client: StacksApiClient | None = None  # the jobs' Stacks API client: /metrics reads its counters
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def of(cls, services: Services, *, chain_only: bool = False) -> Worker:
        """The worker of `services`: their store, lease holder and Stacks API client, and their jobs."""
        jobs = services.jobs(chain_only=chain_only)
        return cls(services.store, services.holder, services.settings.lease_ttl_s, jobs, services.chain)

    @property
    def listener(self) -> ChainListener:
        return next(job for job, _ in self.jobs if isinstance(job, ChainListener))

    def metrics(self) -> dict[str, dict[str, int]]:
        return {job.name: dict(getattr(job, "metrics", {})) for job, _ in self.jobs}

    async def run(self) -> None:
        """Run every job until :meth:`stop`; leases are released on the way out."""
        log.info("worker %s starting: %s", self.holder, ", ".join(job.name for job, _ in self.jobs))
        await asyncio.gather(
            *(
                run_singleton(
                    self.store,
                    job,
                    self.holder,
                    interval_s=interval,
                    ttl_s=self.lease_ttl_s,
                    stop=self.stop_event,
                )
                for job, interval in self.jobs
            )
        )
        log.info("worker %s stopped", self.holder)

    def stop(self) -> None:
        self.stop_event.set()


async def run_worker(
    settings: Settings, mongodb_uri: str, *, accept_chain_restart: bool = False, chain_only: bool = False
) -> None:
    """The ``policy-registry worker`` process: its own `Services` and their jobs, until cancelled or signalled.
    ``chain_only`` runs the four chain-side jobs without the service's own (oracle, expiration, backend txs)."""
    services = await Services.create(settings, mongodb_uri)
    try:
        worker = Worker.of(services, chain_only=chain_only)
        worker.listener.accept_restart_once = accept_chain_restart
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()
    finally:
        await services.close()


async def start_in_app(services: Services, *, chain_only: bool = False) -> tuple[Worker, asyncio.Task[Any]] | None:
    """The worker task ``serve`` runs beside the API, over the API's own `Services` (None when RUN_WORKER is off
    or no Stacks API is set)."""
    settings = services.settings
    if not settings.run_worker:
        log.info("RUN_WORKER is off: this process serves the API only")
        return None
    if services.chain is None:
        log.warning("STACKS_API_URL is not set: the worker (chain listener and jobs) is not started")
        return None
    worker = Worker.of(services, chain_only=chain_only)
    return worker, asyncio.create_task(worker.run(), name="policy-registry-worker")


async def stop_in_app(started: tuple[Worker, asyncio.Task[Any]] | None) -> None:
    """Stop the worker; its Stacks API client is the services', closed with them."""
    if started is None:
        return
    worker, task = started
    worker.stop()
    try:
        await asyncio.wait_for(task, timeout=10)  # cancels the task (leases still released) if it takes longer
    except TimeoutError:
        log.warning("the worker did not stop within 10 s; cancelled")


def main(argv: list[str] | None = None) -> int:
    """``python -m policy_registry.worker [--chain-only] [--accept-chain-restart]``: the worker against
    ``MONGODB_URI`` (no embedded database here); ``policy-registry worker`` is the operator's entry point."""
    import argparse

    from policy_registry.logging_setup import configure_logging
    from policy_registry.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m policy_registry.worker")
    parser.add_argument("--chain-only", action="store_true", help="only the listener, monitors and reconciliation")
    parser.add_argument("--accept-chain-restart", action="store_true")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.stacks_api_url or not settings.mongodb_uri:
        print("set STACKS_API_URL and MONGODB_URI", file=sys.stderr)
        return 2
    asyncio.run(
        run_worker(
            settings,
            settings.mongodb_uri,
            accept_chain_restart=args.accept_chain_restart,
            chain_only=args.chain_only,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
