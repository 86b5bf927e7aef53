"""Activation and the operator mutations through GraphQL: who may call them and what they answer."""

from __future__ import annotations

import httpx
import pytest

from policy_registry.container import Services
from services.chain import TESTNET, BackendSigner
from services.core.fencing import Unfenced
from services.listener.poller import ChainListener, ListenerConfig
from services.oracle import Asset
from services.policies.quotes import PolicyParameters
from tests.api.chain_api import OPERATOR, sign_in
from tests.api.graphql_client import error_codes, gql
from tests.fixtures.devnet import DevnetFixture

pytestmark = pytest.mark.devnet
ACTIVATE = "mutation($id: Int!) { requestPolicyActivation(policyIdOnChain: $id) { statusDetailed settlementUstx } }"


async def active_policy(services: Services, devnet: DevnetFixture, wallet: str) -> int:
    assert services.creation is not None and services.chain is not None
    account = devnet.accounts[wallet]
    result = await services.creation.request_creation(
        account.address, PolicyParameters("PUT", 5_000_000, 9_500_000_000_000, 30), f"api-{wallet}"
    )
    call = result.transaction
    signer = BackendSigner.from_hex(account.private_key, TESTNET)
    nonce = (await services.chain.get_nonces(signer.address)).possible_next_nonce
    tx = call.sign(signer, nonce, fee=10_000)
    await services.chain.broadcast_transaction(tx.serialize())
    await devnet.amine(1)
    listener = ChainListener(
        services.store, services.chain, ListenerConfig(devnet.registry, devnet.vault, 0), Unfenced()
    )
    assert (await listener.poll_once()).error is None
    policy = await services.policies.require(result.policy.id)
    assert policy.policy_id_onchain is not None
    return policy.policy_id_onchain


async def test_activation_needs_the_owner_and_a_price_below_the_strike(
    chain_api: tuple[httpx.AsyncClient, Services],
    devnet: DevnetFixture,
) -> None:
    client, services = chain_api
    onchain = await active_policy(services, devnet, "wallet_2")
    assert error_codes(await gql(client, ACTIVATE, {"id": onchain})) == ["UNAUTHENTICATED"]
    owner = await sign_in(client, devnet, "wallet_2")
    stranger = await sign_in(client, devnet, "wallet_3")
    assert error_codes(await gql(client, ACTIVATE, {"id": onchain}, headers=stranger)) == ["FORBIDDEN"]
    not_met = await gql(client, ACTIVATE, {"id": onchain}, headers=owner)
    assert error_codes(not_met) == ["ACTIVATION_CONDITION_NOT_MET"]
    assert not_met["errors"][0]["extensions"]["priceUsd8"] == "10000000000000"
    assert error_codes(await gql(client, ACTIVATE, {"id": 999_999}, headers=owner)) == ["NOT_FOUND"]
    assert services.local_prices is not None
    await services.local_prices.set_price(Asset.BTC_USD, 9_000_000_000_000)
    await services.oracle.refresh()
    body = await gql(client, ACTIVATE, {"id": onchain}, headers=owner)
    assert body["data"]["requestPolicyActivation"] == {"statusDetailed": "Settling", "settlementUstx": "250000000"}
    assert error_codes(await gql(client, ACTIVATE, {"id": onchain}, headers=owner)) == ["CONFLICT"]
    await services.local_prices.set_price(Asset.BTC_USD, 10_000_000_000_000)
    await services.oracle.refresh()


async def test_operator_mutations_need_the_operator_token(
    chain_api: tuple[httpx.AsyncClient, Services],
    devnet: DevnetFixture,
) -> None:
    client, _ = chain_api
    check = "mutation { runExpirationCheck { burnHeight expiring skipped } }"
    retry = "mutation { retryPolicyStatusUpdate(policyIdOnChain: 1) { statusDetailed } }"
    for operation in (check, retry):
        assert error_codes(await gql(client, operation)) == ["UNAUTHENTICATED"]
        assert error_codes(await gql(client, operation, headers={"x-operator-token": "nope"})) == ["FORBIDDEN"]
        wallet = await sign_in(client, devnet, "wallet_1")  # a wallet session is not an operator
        assert error_codes(await gql(client, operation, headers=wallet)) == ["UNAUTHENTICATED"]
    body = await gql(client, check, headers={"x-operator-token": OPERATOR})
    assert body["data"]["runExpirationCheck"]["burnHeight"] > 0
