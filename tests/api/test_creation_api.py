"""The creation flow through GraphQL: quote, sign-in, requestPolicyCreation, submitPolicyCreationTx, market data."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from policy_registry.container import Services
from tests.api.chain_api import OPERATOR, sign_in
from tests.api.graphql_client import error_codes, gql
from tests.fixtures.devnet import DevnetFixture

pytestmark = pytest.mark.devnet
PARAMS = {"protectedAmountSats": "10000000", "protectedValueUsd8": "9500000000000", "durationDays": 30}

QUOTE = """query($input: PolicyParametersInput!) { quote(input: $input) {
  quoteId riskTier premiumUsd8 premiumUstx collateralUstx breakEvenUsd8 btcPriceUsd8 stxPriceUsd8 volatilityPpm
  expirationHeight quoteExpiryHeight quoteExpiresAt priceSources } }"""
REQUEST = """mutation($input: PolicyParametersInput!, $key: String!, $quoteId: String) {
  requestPolicyCreation(input: $input, idempotencyKey: $key, quoteId: $quoteId) {
    repeated policy { id owner statusDetailed premiumUstx collateralUstx quoteId }
    quote { quoteId premiumUstx }
    transaction { contractAddress contractName functionName functionArgs postConditions postConditionsHex
                  postConditionMode network } } }"""


async def test_quote_prices_a_policy(chain_api: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = chain_api
    body = await gql(client, QUOTE, {"input": PARAMS})
    quote = body["data"]["quote"]
    assert quote["riskTier"] == "Conservative" and quote["btcPriceUsd8"] == "10000000000000"
    assert int(quote["premiumUstx"]) > 0 and int(quote["collateralUstx"]) == 10_450_000_000  # 0.1 BTC × $95k × 110%
    assert quote["volatilityPpm"] == 300_000  # no history yet: the fallback
    assert int(quote["quoteExpiryHeight"]) > 0 and len(quote["quoteId"]) == 32
    assert int(quote["breakEvenUsd8"]) < 9_500_000_000_000


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"protectedAmountSats": "9999"}, "protectedAmountSats", "BAD_INPUT"),
        ({"protectedAmountSats": "10000000001"}, "protectedAmountSats", "BAD_INPUT"),
        ({"protectedValueUsd8": "4999999999999"}, "protectedValueUsd8", "BAD_INPUT"),
        ({"protectedValueUsd8": "15000000000001"}, "protectedValueUsd8", "BAD_INPUT"),
        ({"durationDays": 0}, "durationDays", "BAD_INPUT"),
        ({"durationDays": 366}, "durationDays", "BAD_INPUT"),
        ({"riskTier": "Aggressive"}, "tier", "BAD_INPUT"),
        ({"protectedAmountSats": "10000000000"}, None, "INSUFFICIENT_CAPACITY"),
    ],
)
async def test_quote_refuses_out_of_range_input(
    chain_api: tuple[httpx.AsyncClient, Services], change: dict[str, Any], field: str | None, code: str
) -> None:
    client, _ = chain_api
    body = await gql(client, QUOTE, {"input": {**PARAMS, **change}})
    assert error_codes(body) == [code], body
    if field:
        assert body["errors"][0]["extensions"]["field"] == field


async def test_no_fresh_prices_is_oracle_unavailable(chain_api: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = chain_api
    await services.store.db.prices.delete_many({})
    body = await gql(client, QUOTE, {"input": PARAMS})
    assert error_codes(body) == ["ORACLE_UNAVAILABLE"]
    body = await gql(client, "{ latestPrice(asset: BTC_USD) { priceUsd8 } }")
    assert error_codes(body) == ["ORACLE_UNAVAILABLE"]


async def test_request_creation_needs_a_session_and_returns_the_wallet_call(
    chain_api: tuple[httpx.AsyncClient, Services], devnet: DevnetFixture
) -> None:
    client, _ = chain_api
    anonymous = await gql(client, REQUEST, {"input": PARAMS, "key": "k1"})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    headers = await sign_in(client, devnet, "wallet_1")
    body = await gql(client, REQUEST, {"input": PARAMS, "key": "k1"}, headers=headers)
    created = body["data"]["requestPolicyCreation"]
    owner = devnet.accounts["wallet_1"].address
    assert created["policy"]["owner"] == owner and created["policy"]["statusDetailed"] == "PendingCreation"
    tx = created["transaction"]
    assert (tx["contractAddress"], tx["contractName"], tx["functionName"]) == (
        *devnet.registry.split("."),
        "create-policy-entry",
    )
    assert len(tx["functionArgs"]) == 10 and all(a.startswith("0x") for a in tx["functionArgs"])
    assert tx["postConditionMode"] == "deny" and tx["network"] in {"testnet", "devnet"}
    assert tx["postConditions"] == [
        {"type": "stx-postcondition", "address": owner, "condition": "eq", "amount": created["policy"]["premiumUstx"]}
    ]
    assert len(tx["postConditionsHex"]) == 1
    again = await gql(client, REQUEST, {"input": PARAMS, "key": "k1"}, headers=headers)
    assert again["data"]["requestPolicyCreation"]["repeated"] is True
    assert again["data"]["requestPolicyCreation"]["transaction"] == tx

    policy_id = created["policy"]["id"]
    submit = (
        "mutation($p: ID!, $t: String!) { submitPolicyCreationTx(policyId: $p, txId: $t) { txIdCreation version } }"
    )
    other = await sign_in(client, devnet, "wallet_2")
    txid = "ab" * 32
    # Another wallet's pending policy answers as a missing one (docs/security.md; tests/security compares the two).
    assert error_codes(await gql(client, submit, {"p": policy_id, "t": txid}, headers=other)) == ["NOT_FOUND"]
    assert error_codes(await gql(client, submit, {"p": policy_id, "t": "0x1234"}, headers=headers)) == ["BAD_INPUT"]
    done = await gql(client, submit, {"p": policy_id, "t": txid}, headers=headers)
    assert done["data"]["submitPolicyCreationTx"] == {"txIdCreation": "0x" + txid, "version": 1}
    clash = await gql(client, submit, {"p": policy_id, "t": "cd" * 32}, headers=headers)
    assert error_codes(clash) == ["CONFLICT"]


async def test_market_data_and_the_operator_price(chain_api: tuple[httpx.AsyncClient, Services]) -> None:
    client, _ = chain_api
    tiers = await gql(client, "{ tierAvailability { tier capitalUstx lockedUstx reservedUstx availableUstx } }")
    rows = tiers["data"]["tierAvailability"]
    assert [r["tier"] for r in rows] == ["Conservative", "Balanced", "Aggressive"]
    assert all(
        int(r["availableUstx"]) == int(r["capitalUstx"]) - int(r["lockedUstx"]) - int(r["reservedUstx"]) for r in rows
    )
    price = await gql(client, "{ latestPrice(asset: STX_USD) { priceUsd8 sources } }")
    assert price["data"]["latestPrice"] == {"priceUsd8": "100000000", "sources": ["local-1", "local-2", "local-3"]}
    set_price = 'mutation { setLocalPrice(asset: BTC_USD, priceUsd8: "8000000000000") { priceUsd8 } }'
    assert error_codes(await gql(client, set_price)) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(client, set_price, headers={"x-operator-token": "wrong"})) == ["FORBIDDEN"]
    body = await gql(client, set_price, headers={"x-operator-token": OPERATOR})
    assert body["data"]["setLocalPrice"]["priceUsd8"] == "8000000000000"
    latest = await gql(client, "{ latestPrice(asset: BTC_USD) { priceUsd8 } }")
    assert latest["data"]["latestPrice"]["priceUsd8"] == "8000000000000"
