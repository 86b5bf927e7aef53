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
| backend transactions | ``backend-txs`` | ``BACKEND_TX_INTERVAL_S`` (services/backend_txs) |
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policy_registry.settings import Settings
from services.chain import StacksApiClient
from services.jobs.reconciliation import Reconciler
from services.jobs.runner import SingletonJob, run_singleton
from services.jobs.tx_monitor import CreationTxMonitor, QuoteExpiryJob
from services.listener.poller import ChainListener, ListenerConfig
from services.store.leases import Lease
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)


def holder_id(settings: Settings) -> str:
    """Unique per process even when several share an INSTANCE_ID (a shared id would share the leases)."""
    base = settings.instance_id or f"{socket.gethostname()}:{settings.port}"
    return f"{base}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


@dataclass
class Worker:
    settings: Settings
    store: MongoStore
    client: StacksApiClient
    holder: str
    listener: ChainListener
    jobs: list[tuple[SingletonJob, float]] = field(default_factory=list)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: MongoStore,
        client: StacksApiClient,
        *,
        holder: str | None = None,
        extra_jobs: Sequence[tuple[SingletonJob, float]] = (),
    ) -> Worker:
        """The chain-side jobs; `extra_jobs` are the service's own (policy_registry/jobs.py: oracle polling,
        expiration, the backend transaction queue), built by the caller from its `Services`."""
        policies = PolicyRepository(store)
        config = ListenerConfig(
            registry_contract_id=settings.registry_contract_id,
            vault_contract_id=settings.vault_contract_id,
            confirmations=settings.chain_confirmations,
            reorg_window=settings.listener_reorg_window,
            restart_policy=settings.chain_restart_policy,
        )
        # The listener's fence is replaced by its lease on every run (run_once); until then nothing may write.
        listener = ChainListener(store, client, config, Lease(store.db, "chain-listener", "-", 1.0), policies)
        confirmations = settings.chain_confirmations
        jobs: list[tuple[SingletonJob, float]] = [
            (listener, settings.listener_poll_interval_s),
            (CreationTxMonitor(store, client, confirmations, policies), settings.tx_monitor_interval_s),
            (
                QuoteExpiryJob(store, client, settings.registry_contract_id, confirmations, policies),
                settings.tx_monitor_interval_s,
            ),
            (
                Reconciler(store, client, settings.registry_contract_id, confirmations, policies),
                settings.reconcile_interval_s,
            ),
            *extra_jobs,
        ]
        return cls(settings, store, client, holder or holder_id(settings), listener, jobs)

    def metrics(self) -> dict[str, dict[str, int]]:
        return {job.name: dict(getattr(job, "metrics", {})) for job, _ in self.jobs}

    async def run(self) -> None:
        """Run every job until :meth:`stop`; leases are released on the way out."""
        log.info("worker %s starting: %s", self.holder, ", ".join(job.name for job, _ in self.jobs))
        await asyncio.gather(
            *(
                run_singleton(
                    self.store.db,
                    job,
                    self.holder,
                    interval_s=interval,
                    ttl_s=self.settings.lease_ttl_s,
                    stop=self.stop_event,
                )
                for job, interval in self.jobs
            )
        )
        log.info("worker %s stopped", self.holder)

    def stop(self) -> None:
        self.stop_event.set()


def make_client(settings: Settings) -> StacksApiClient:
    if not settings.stacks_api_url:
        raise RuntimeError("STACKS_API_URL is not set: the worker needs a Stacks API")
    key = settings.stacks_api_key.get_secret_value() if settings.stacks_api_key else None
    return StacksApiClient(settings.stacks_api_url, api_key=key)


async def run_worker(
    settings: Settings, mongodb_uri: str, *, accept_chain_restart: bool = False, chain_only: bool = False
) -> None:
    """The ``policy-registry worker`` process: its own store and chain client, until cancelled or signalled.
    ``chain_only`` runs the four chain-side jobs without the service's own (oracle, expiration, backend txs)."""
    from policy_registry.container import Services
    from policy_registry.jobs import service_jobs

    services = await Services.create(settings, mongodb_uri)
    store = services.store
    client = make_client(settings)
    extra = () if chain_only else service_jobs(services)
    worker = Worker.build(settings, store, client, extra_jobs=extra)
    worker.listener.accept_restart_once = accept_chain_restart
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    try:
        await worker.run()
    finally:
        await client.aclose()
        await services.close()


async def start_in_app(
    settings: Settings, store: MongoStore, extra_jobs: Sequence[tuple[SingletonJob, float]] = ()
) -> tuple[Worker, asyncio.Task[Any]] | None:
    """The worker task ``serve`` runs beside the API (None when RUN_WORKER is off or no Stacks API is set)."""
    if not settings.run_worker:
        log.info("RUN_WORKER is off: this process serves the API only")
        return None
    if not settings.stacks_api_url:
        log.warning("STACKS_API_URL is not set: the worker (chain listener and jobs) is not started")
        return None
    worker = Worker.build(settings, store, make_client(settings), extra_jobs=extra_jobs)
    return worker, asyncio.create_task(worker.run(), name="policy-registry-worker")


async def stop_in_app(started: tuple[Worker, asyncio.Task[Any]] | None) -> None:
    if started is None:
        return
    worker, task = started
    worker.stop()
    try:
        await asyncio.wait_for(task, timeout=10)  # cancels the task (leases still released) if it takes longer
    except TimeoutError:
        log.warning("the worker did not stop within 10 s; cancelled")
    await worker.client.aclose()


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
