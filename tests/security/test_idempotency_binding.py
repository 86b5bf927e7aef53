"""An idempotency key is bound to the whole request (docs/security.md): the same request replayed returns the same
result; a replay that changes any term is CONFLICT and creates nothing. The policy keeps a sha256 of the canonical
request (owner, every parameter as sent, the quote id) next to its key."""

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
from tests.security.chain import Key, chain_client, chain_settings, sign_in

pytestmark = pytest.mark.devnet
PARAMS = {"protectedAmountSats": "10000000", "protectedValueUsd8": "9500000000000", "durationDays": 30}
REQUEST = """mutation($input: PolicyParametersInput!, $key: String!, $quoteId: String) {
  requestPolicyCreation(input: $input, idempotencyKey: $key, quoteId: $quoteId) {
    repeated policy { id premiumUstx } quote { quoteId premiumUstx }
    transaction { functionArgs postConditions } } }"""

Api = tuple[httpx.AsyncClient, Services, dict[str, str]]


@pytest.fixture
async def api(devnet: DevnetFixture, mongo_server: EmbeddedMongo, db_name: str) -> AsyncIterator[Api]:
    async with chain_client(chain_settings(devnet, db_name), mongo_server.uri, devnet) as (client, services):
        yield client, services, await sign_in(client, Key.of(devnet, "wallet_4"))


async def send(api: Api, params: dict[str, Any], quote_id: str | None = None, key: str = "k-1") -> dict[str, Any]:
    client, _, headers = api
    return await gql(client, REQUEST, {"input": params, "key": key, "quoteId": quote_id}, headers=headers)


async def test_the_same_request_replayed_returns_the_same_result(api: Api) -> None:
    first = await send(api, PARAMS)
    again = await send(api, dict(reversed(PARAMS.items())))  # the same terms in another order: the same request
    assert "errors" not in first and "errors" not in again, (first, again)
    a, b = first["data"]["requestPolicyCreation"], again["data"]["requestPolicyCreation"]
    assert (a["repeated"], b["repeated"]) == (False, True)
    assert {k: v for k, v in a.items() if k != "repeated"} == {k: v for k, v in b.items() if k != "repeated"}
    assert await api[1].store.db.policies.count_documents({}) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"durationDays": 31},
        {"protectedAmountSats": "10000001"},
        {"protectedValueUsd8": "9600000000000"},
        {"riskTier": "Conservative"},  # the tier the strike selects anyway: still another request than "no tier"
    ],
    ids=lambda change: next(iter(change)),
)
async def test_a_replay_with_any_other_term_is_conflict(api: Api, change: dict[str, Any]) -> None:
    assert "errors" not in await send(api, PARAMS)
    body = await send(api, {**PARAMS, **change})
    assert error_codes(body) == ["CONFLICT"], body
    assert body["errors"][0]["extensions"]["field"] == "idempotencyKey"
    assert await api[1].store.db.policies.count_documents({}) == 1


async def test_a_replay_naming_a_quote_is_another_request(api: Api) -> None:
    client, services, _ = api
    quote = await gql(client, "query($i: PolicyParametersInput!) { quote(input: $i) { quoteId } }", {"i": PARAMS})
    quote_id = quote["data"]["quote"]["quoteId"]
    assert "errors" not in await send(api, PARAMS, quote_id=quote_id)
    assert "errors" not in await send(api, PARAMS, quote_id=quote_id.upper())  # the same quote id, any case
    assert error_codes(await send(api, PARAMS)) == ["CONFLICT"]  # the same terms without the quote
    assert "errors" not in await send(api, PARAMS, key="k-2")
    assert error_codes(await send(api, PARAMS, quote_id=quote_id, key="k-2")) == ["CONFLICT"]
    assert await services.store.db.policies.count_documents({}) == 2


async def test_concurrent_replays_with_other_terms_create_one_policy(api: Api) -> None:
    bodies = await asyncio.gather(*[send(api, {**PARAMS, "durationDays": 30 + n}) for n in range(4)])
    won = [b for b in bodies if "errors" not in b]
    assert len(won) == 1 and all(error_codes(b) == ["CONFLICT"] for b in bodies if "errors" in b), bodies
    assert await api[1].store.db.policies.count_documents({}) == 1


async def test_concurrent_identical_requests_answer_one_policy_at_the_wallet_bound(
    devnet: DevnetFixture, mongo_server: EmbeddedMongo, db_name: str
) -> None:
    """A client retrying one request (the point of an idempotency key) while the first is in flight: the retries
    lose the wallet's lock, run again, and then meet the wallet's bounds before the key's unique index. They must
    still answer as repeats, not QUOTA_EXCEEDED (here the wallet may hold one open quote)."""
    settings = chain_settings(devnet, db_name, max_open_quotes_per_wallet=1)
    async with chain_client(settings, mongo_server.uri, devnet) as (client, services):
        api = (client, services, await sign_in(client, Key.of(devnet, "wallet_4")))
        bodies = await asyncio.gather(*[send(api, PARAMS) for _ in range(4)])
        assert all("errors" not in b for b in bodies), bodies
        answers = [b["data"]["requestPolicyCreation"] for b in bodies]
        assert sorted(a["repeated"] for a in answers) == [False, True, True, True]
        assert len({a["policy"]["id"] for a in answers}) == 1
        assert await services.store.db.policies.count_documents({}) == 1
