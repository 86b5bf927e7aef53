"""The worker's wiring: inside the app's lifespan (RUN_WORKER), and the `policy-registry worker` command."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from policy_registry.cli import main
from policy_registry.container import Services
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings, get_settings
from policy_registry.worker import start_in_app, stop_in_app
from services.store.leases import Lease
from services.store.mongo import MongoStore
from tests.documents import found
from tests.services.listener.fake_chain import REGISTRY, VAULT, FakeChain


async def test_the_app_runs_the_worker_only_when_asked_and_with_a_chain(
    store: MongoStore, chain: FakeChain, mongo_server: EmbeddedMongo
) -> None:
    database = store.db.name  # the app's own Services, on this test's database

    async def services_of(settings: Settings) -> Services:
        return await Services.create(settings.model_copy(update={"mongodb_database": database}), mongo_server.uri)

    off = await services_of(Settings(_env_file=None, run_worker=False, stacks_api_url=chain.base_url))
    assert await start_in_app(off) is None
    no_chain = await services_of(Settings(_env_file=None, stacks_api_url=None))
    assert await start_in_app(no_chain) is None

    on = Settings(
        _env_file=None,
        stacks_api_url=chain.base_url,
        registry_contract_id=REGISTRY,
        vault_contract_id=VAULT,
        listener_poll_interval_s=0.05,
        chain_confirmations=0,
    )
    services = await services_of(on)
    started = await start_in_app(services, chain_only=True)  # the four chain-side jobs
    assert started is not None
    worker, task = started
    for _ in range(600):  # generous: the machine may be busy
        if await store.db.chain_state.find_one({"_id": "tip"}) and await store.db.leases.count_documents({}) == 4:
            break
        await asyncio.sleep(0.05)
    assert found(await store.db.chain_state.find_one({"_id": "tip"}))["chain_marker"] == chain.marker
    assert {d["_id"] for d in await store.db.leases.find().to_list(None)} == {
        "chain-listener",
        "creation-monitor",
        "quote-expiry",
        "reconciliation",
    }
    await stop_in_app(started)
    assert task.done()
    for name in ("chain-listener", "creation-monitor", "quote-expiry", "reconciliation"):
        assert await Lease(store, name, "next-process", ttl_s=30).acquire()  # released on the way out
    assert set(worker.metrics()) == {"chain-listener", "creation-monitor", "quote-expiry", "reconciliation"}
    for opened in (off, no_chain, services):
        await opened.close()


def test_the_worker_command_needs_a_stacks_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STACKS_API_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["worker"]) == 2
    finally:
        get_settings.cache_clear()
    assert "STACKS_API_URL" in capsys.readouterr().err
