"""A reservation costs the reserver something, or is bounded (docs/security.md "Hostile clients"), on the devnet.

`requestPolicyCreation` reserves collateral only when the wallet's STX balance on chain covers the premium and a
fee, plus what its other open quotes need; a wallet holds at most MAX_OPEN_QUOTES_PER_WALLET open quotes and at
most MAX_WALLET_TIER_SHARE_PPM of a tier's capital. A balance the chain cannot tell is CHAIN_UNAVAILABLE. Whatever
is refused writes nothing: no reservation, no policy, no quote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from policy_registry.container import Services
from policy_registry.embedded.secantus import EmbeddedMongo
from tests.api.graphql_client import error_codes, gql
from tests.fixtures.devnet import DevnetFixture
from tests.security.chain import Key, accounts_proxy, chain_client, chain_settings, sign_in

pytestmark = pytest.mark.devnet
STRIKE = "9500000000000"  # 95% of the local feed's $100,000: Conservative
REQUEST = """mutation($input: PolicyParametersInput!, $key: String!, $quoteId: String) {
  requestPolicyCreation(input: $input, idempotencyKey: $key, quoteId: $quoteId) {
    policy { id premiumUstx collateralUstx } } }"""
QUOTE = "query($input: PolicyParametersInput!) { quote(input: $input) { quoteId premiumUstx collateralUstx } }"


def params(sats: int = 10_000_000, days: int = 30) -> dict[str, Any]:
    return {"protectedAmountSats": str(sats), "protectedValueUsd8": STRIKE, "durationDays": days}


Api = tuple[httpx.AsyncClient, Services]


@pytest.fixture
async def api(devnet: DevnetFixture, mongo_server: EmbeddedMongo, db_name: str) -> AsyncIterator[Api]:
    async with chain_client(chain_settings(devnet, db_name), mongo_server.uri, devnet) as pair:
        yield pair


async def written(services: Services) -> dict[str, int]:
    db = services.store.db
    return {
        "reservations": await db.reservations.count_documents({}),
        "policies": await db.policies.count_documents({}),
        "quotes used": await db.quotes.count_documents({"used_by": {"$exists": True}}),
    }


async def request(client: httpx.AsyncClient, headers: dict[str, str], key: str, **variables: Any) -> dict[str, Any]:
    return await gql(client, REQUEST, {"input": params(), "key": key, **variables}, headers=headers)


async def test_an_unfunded_wallet_gets_insufficient_funds_and_nothing_is_reserved(api: Api) -> None:
    client, services = api
    fresh = Key.fresh()
    headers = await sign_in(client, fresh)
    body = await request(client, headers, "broke-1")
    assert error_codes(body) == ["INSUFFICIENT_FUNDS"], body
    extensions = body["errors"][0]["extensions"]
    assert extensions["balanceUstx"] == "0" and int(extensions["requiredUstx"]) > 0
    # the same through a stored quote it tries to lock in
    quote = (await gql(client, QUOTE, {"input": params()}))["data"]["quote"]
    body = await request(client, headers, "broke-2", quoteId=quote["quoteId"])
    assert error_codes(body) == ["INSUFFICIENT_FUNDS"], body
    assert await written(services) == {"reservations": 0, "policies": 0, "quotes used": 0}
    assert await services.store.db.wallet_locks.count_documents({}) == 0  # the refused transactions left nothing


async def test_a_funded_wallet_holds_at_most_three_open_quotes(api: Api, devnet: DevnetFixture) -> None:
    client, services = api
    headers = await sign_in(client, Key.of(devnet, "wallet_1"))
    for n in range(3):
        body = await request(client, headers, f"open-{n}")
        assert "errors" not in body, body
    body = await request(client, headers, "open-3")
    assert error_codes(body) == ["QUOTA_EXCEEDED"], body
    assert body["errors"][0]["extensions"]["limit"] == "openQuotes" and body["errors"][0]["extensions"]["max"] == 3
    # a reported txid proves nothing until the chain confirms it: the slot stays taken
    policy_id = (await request(client, headers, "open-0"))["data"]["requestPolicyCreation"]["policy"]["id"]
    submit = "mutation($p: ID!, $t: String!) { submitPolicyCreationTx(policyId: $p, txId: $t) { id } }"
    assert "errors" not in await gql(client, submit, {"p": policy_id, "t": "ab" * 32}, headers=headers)
    assert error_codes(await request(client, headers, "open-4")) == ["QUOTA_EXCEEDED"]
    assert await written(services) == {"reservations": 3, "policies": 3, "quotes used": 3}


async def test_concurrent_requests_of_one_wallet_never_pass_the_bound(api: Api, devnet: DevnetFixture) -> None:
    client, services = api
    headers = await sign_in(client, Key.of(devnet, "wallet_3"))
    bodies = await asyncio.gather(*[request(client, headers, f"race-{n}") for n in range(7)])
    won = [b for b in bodies if "errors" not in b]
    assert len(won) == 3 and all(error_codes(b) == ["QUOTA_EXCEEDED"] for b in bodies if "errors" in b), bodies
    assert await written(services) == {"reservations": 3, "policies": 3, "quotes used": 3}


async def test_a_wallet_reserves_at_most_its_share_of_a_tier(api: Api, devnet: DevnetFixture) -> None:
    client, services = api
    tiers = await gql(client, "{ tierAvailability { tier capitalUstx availableUstx } }")
    conservative = next(t for t in tiers["data"]["tierAvailability"] if t["tier"] == "Conservative")
    allowed = int(conservative["capitalUstx"]) * services.settings.max_wallet_tier_share_ppm // 1_000_000
    per_btc = int((await gql(client, QUOTE, {"input": params(100_000_000)}))["data"]["quote"]["collateralUstx"])
    sixty_percent = allowed * 6 // 10 * 100_000_000 // per_btc  # sats whose collateral is ~60% of the share
    assert allowed < int(conservative["availableUstx"])  # the tier could cover more: the share is what refuses
    headers = await sign_in(client, Key.of(devnet, "wallet_2"))
    first = await gql(client, REQUEST, {"input": params(sixty_percent), "key": "share-1"}, headers=headers)
    assert "errors" not in first, first
    second = await gql(client, REQUEST, {"input": params(sixty_percent), "key": "share-2"}, headers=headers)
    assert error_codes(second) == ["QUOTA_EXCEEDED"], second
    extensions = second["errors"][0]["extensions"]
    assert extensions["limit"] == "tierShare" and extensions["maxUstx"] == str(allowed)
    # one request alone over the share, from a wallet holding nothing yet
    other = await sign_in(client, Key.of(devnet, "wallet_4"))
    over = allowed * 11 // 10 * 100_000_000 // per_btc
    alone = await gql(client, REQUEST, {"input": params(over), "key": "share-3"}, headers=other)
    assert error_codes(alone) == ["QUOTA_EXCEEDED"] and alone["errors"][0]["extensions"]["heldUstx"] == "0"
    assert await written(services) == {"reservations": 1, "policies": 1, "quotes used": 1}


async def test_the_balance_must_cover_the_other_open_quotes_too(
    devnet: DevnetFixture, mongo_server: EmbeddedMongo, db_name: str
) -> None:
    async with accounts_proxy(devnet.url) as proxy:
        async with chain_client(chain_settings(devnet, db_name, proxy.url), mongo_server.uri, devnet) as (client, svc):
            premium = int((await gql(client, QUOTE, {"input": params()}))["data"]["quote"]["premiumUstx"])
            each = premium + svc.settings.creation_fee_estimate_ustx
            proxy.balance = 2 * each - 1  # one policy and its fee, not two
            headers = await sign_in(client, Key.of(devnet, "wallet_1"))
            first = await request(client, headers, "funds-1")
            assert "errors" not in first, first
            second = await request(client, headers, "funds-2")
            assert error_codes(second) == ["INSUFFICIENT_FUNDS"], second
            assert second["errors"][0]["extensions"]["requiredUstx"] == str(2 * each)
            proxy.balance = 2 * each  # exactly enough
            assert "errors" not in await request(client, headers, "funds-3")
            assert await written(svc) == {"reservations": 2, "policies": 2, "quotes used": 2}


@pytest.mark.parametrize("status", [503, 404])
async def test_a_balance_the_chain_cannot_tell_is_chain_unavailable_and_reserves_nothing(
    devnet: DevnetFixture, mongo_server: EmbeddedMongo, db_name: str, status: int
) -> None:
    async with accounts_proxy(devnet.url) as proxy:
        async with chain_client(chain_settings(devnet, db_name, proxy.url), mongo_server.uri, devnet) as (client, svc):
            headers = await sign_in(client, Key.of(devnet, "wallet_2"))
            proxy.status = status
            body = await request(client, headers, "down-1")
            assert error_codes(body) == ["CHAIN_UNAVAILABLE"], body
            assert proxy.account_reads >= 1  # it asked, and got no balance
            assert await written(svc) == {"reservations": 0, "policies": 0, "quotes used": 0}
            proxy.status = 200  # back up: the same request goes through
            assert "errors" not in await request(client, headers, "down-1")
