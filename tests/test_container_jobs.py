"""The worker's job list comes from the container (`Services.jobs`), and the in-app worker shares the API's Stacks
API client: stopping the worker leaves it open, closing the services closes it once."""

from __future__ import annotations

from policy_registry.container import Services
from policy_registry.settings import Settings
from policy_registry.worker import Worker, start_in_app, stop_in_app

BACKEND_KEY = "01" * 32
MONGODB_URI = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100"  # never contacted: no indexes, no job runs


def settings(**overrides: object) -> Settings:
    return Settings(
        _env_file=None,
        stacks_api_url="http://127.0.0.1:1",
        listener_poll_interval_s=1.5,
        tx_monitor_interval_s=2.5,
        reconcile_interval_s=3.5,
        oracle_poll_interval_s=4.5,
        expiration_check_interval_s=5.5,
        backend_tx_interval_s=6.5,
        **overrides,  # type: ignore[arg-type]
    )


def leases(services: Services, *, chain_only: bool = False) -> list[tuple[str, float]]:
    return [(job.name, interval) for job, interval in services.jobs(chain_only=chain_only)]


async def test_the_jobs_leases_intervals_and_order_are_the_workers() -> None:
    chain_side = [("chain-listener", 1.5), ("creation-monitor", 2.5), ("quote-expiry", 2.5), ("reconciliation", 3.5)]
    keyed = await Services.create(settings(backend_key=BACKEND_KEY), MONGODB_URI, ensure_indexes=False)
    keyless = await Services.create(settings(), MONGODB_URI, ensure_indexes=False)
    try:
        assert leases(keyed) == [*chain_side, ("oracle", 4.5), ("expiration", 5.5), ("backend-txs", 6.5)]
        assert leases(keyed, chain_only=True) == chain_side
        # Without a backend key there is nothing to send: the worker does not take the `backend-txs` lease, which a
        # worker that has the key needs.
        assert leases(keyless) == [*chain_side, ("oracle", 4.5), ("expiration", 5.5)]
        worker = Worker.of(keyed)
        assert worker.client is keyed.chain and worker.holder == keyed.holder and worker.store is keyed.store
        assert [job.name for job, _ in worker.jobs] == [name for name, _ in leases(keyed)]
    finally:
        await keyed.close()
        await keyless.close()


async def test_the_in_app_worker_leaves_the_shared_client_to_the_services() -> None:
    services = await Services.create(settings(mongodb_timeout_ms=100), MONGODB_URI, ensure_indexes=False)
    client = services.chain
    assert client is not None
    closed: list[object] = []
    close = client.aclose

    async def counted_close() -> None:
        closed.append(client)
        await close()

    client.aclose = counted_close  # type: ignore[method-assign]
    started = await start_in_app(services)  # its jobs find no database and keep trying until stopped
    assert started is not None
    assert started[0].client is client  # one Stacks API client per process
    await stop_in_app(started)
    assert started[1].done()
    assert closed == []  # the API still uses it
    await services.close()
    assert closed == [client]
