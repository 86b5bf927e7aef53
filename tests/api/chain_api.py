"""The whole app wired to the devnet, for GraphQL tests of the chain-backed operations, and wallet sign-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.settings import Settings
from services.chain.signing import sign_message
from tests.api.graphql_client import gql
from tests.fixtures.devnet import DevnetFixture

OPERATOR = "operator-token-for-tests-0123456789"


@pytest.fixture
async def chain_api(
    devnet: DevnetFixture, mongo_server: Any, db_name: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings(
        _env_file=None,
        mongodb_database=db_name,
        stacks_api_url=devnet.url,
        quote_key=devnet.quote_private_key.hex(),
        backend_key=devnet.accounts["backend"].private_key,
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
        operator_token=OPERATOR,
    )
    services = await Services.create(settings, mongo_server.uri)
    assert services.local_prices is not None and services.chain is not None
    await services.local_prices.load()
    await services.oracle.refresh()
    await services.liquidity.sync_from_chain(services.chain, devnet.vault)
    app = create_app(settings, mongo_server.uri, services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        yield client, services
    await services.store.client.drop_database(db_name)
    await services.close()


async def sign_in(client: httpx.AsyncClient, devnet: DevnetFixture, wallet: str) -> dict[str, str]:
    account = devnet.accounts[wallet]
    challenge = await gql(
        client, "mutation($a: String!) { authChallenge(address: $a) { message } }", {"a": account.address}
    )
    message = challenge["data"]["authChallenge"]["message"]
    signature = sign_message(bytes.fromhex(account.private_key[:64]), message)
    body = await gql(
        client,
        """mutation($a: String!, $k: String!, $s: String!) {
        authenticate(address: $a, publicKey: $k, signature: $s) { token } }""",
        {"a": account.address, "k": account.public_key, "s": signature},
    )
    return {"authorization": f"Bearer {body['data']['authenticate']['token']}"}
