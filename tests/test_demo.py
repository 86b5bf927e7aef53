"""Demo data (policy_registry/demo.py): bought through the real flow on the devnet, and only once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from policy_registry.container import Services
from policy_registry.demo import DEMO_POLICIES, seed
from policy_registry.settings import Settings
from services.core.models import RiskTier
from services.core.status import StatusDetailed
from tests.fixtures.devnet import DevnetFixture

pytestmark = pytest.mark.devnet


@pytest.fixture
async def chain_services(devnet: DevnetFixture, mongo_server: Any, db_name: str) -> AsyncIterator[Services]:
    settings = Settings(
        _env_file=None,
        mongodb_database=db_name,
        stacks_api_url=devnet.url,
        quote_key=devnet.quote_private_key.hex(),
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
    )
    services = await Services.create(settings, mongo_server.uri)
    yield services
    await services.store.client.drop_database(db_name)
    await services.close()


async def test_demo_policies_are_bought_through_the_real_flow_once(
    chain_services: Services, devnet: DevnetFixture
) -> None:
    services = chain_services
    assert services.chain is not None
    created = await seed(services, devnet.accounts)
    assert len(created) == len(DEMO_POLICIES) == 3
    policies = [await services.policies.require(policy_id) for policy_id in created]
    assert [p.owner for p in policies] == [devnet.accounts[d.wallet].address for d in DEMO_POLICIES]
    assert [p.risk_tier for p in policies] == [RiskTier.Conservative, RiskTier.Balanced, RiskTier.Aggressive]
    assert all(p.status_detailed is StatusDetailed.PendingCreation and p.tx_id_creation for p in policies)
    await devnet.amine(1)  # the wallets' transactions, one block each
    for policy in policies:
        assert policy.tx_id_creation is not None
        info = await services.chain.get_transaction(policy.tx_id_creation)
        assert info.tx_status == "success", info.raw.get("tx_result")
        assert not info.raw.get("post_condition_mismatch")  # signed exactly as the API prepared it
    assert await seed(services, devnet.accounts) == []  # the database has policies now: skipped
    assert await services.store.db.policies.count_documents({}) == 3
