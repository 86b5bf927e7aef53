"""Policy queries through the whole ASGI app (HTTP, Strawberry, services, SecantusDB)."""

from __future__ import annotations

import httpx
import pytest

from policy_registry.container import Services
from services.core.models import RiskTier
from services.core.status import Cause, StatusDetailed
from tests.api.graphql_client import error_codes, gql
from tests.factories import OWNER_A, OWNER_B, make_policy, next_onchain_id

S = StatusDetailed

POLICY_FIELDS = """
  id policyIdOnChain owner counterparty policyType protectedValueUsd8 protectedAmountSats expirationHeight
  riskTier premiumUstx collateralUstx statusOnChain statusDetailed quoteId createdAt version
  oracleSnapshotCreation { btcUsd8 stxUsd8 volatilityPpm sources }
"""


async def test_policy_by_id_and_by_onchain_id(api: httpx.AsyncClient, services: Services) -> None:
    onchain = next_onchain_id()
    record = await services.policies.insert(
        make_policy(policy_id_onchain=onchain, status_detailed=S.Active, status_onchain=0), Cause.CHAIN
    )
    body = await gql(api, f"query($id: ID!) {{ policy(id: $id) {{ {POLICY_FIELDS} }} }}", {"id": record.id})
    policy = body["data"]["policy"]
    assert policy["id"] == record.id
    assert policy["policyIdOnChain"] == onchain
    assert policy["protectedValueUsd8"] == "9500000000000"  # BigInt as a decimal string
    assert policy["collateralUstx"] == "10450000000"
    assert policy["statusDetailed"] == "Active" and policy["statusOnChain"] == 0
    assert policy["riskTier"] == "Conservative" and policy["policyType"] == "PUT"
    assert policy["oracleSnapshotCreation"]["btcUsd8"] == "10000000000000"
    body = await gql(api, f"{{ policyByOnChainId(policyIdOnChain: {onchain}) {{ id }} }}")
    assert body["data"]["policyByOnChainId"]["id"] == record.id


async def test_unknown_ids_are_null_and_malformed_ids_bad_input(api: httpx.AsyncClient) -> None:
    body = await gql(api, '{ policy(id: "65f000000000000000000000") { id } }')
    assert body["data"]["policy"] is None and "errors" not in body
    body = await gql(api, '{ policy(id: "nope") { id } }')
    assert error_codes(body) == ["BAD_INPUT"]
    body = await gql(api, "{ policyByOnChainId(policyIdOnChain: 0) { id } }")
    assert error_codes(body) == ["BAD_INPUT"]
    body = await gql(api, '{ policyHistory(id: "65f000000000000000000000") { version } }')
    assert error_codes(body) == ["NOT_FOUND"]


async def test_filters_pages_and_total_count(api: httpx.AsyncClient, services: Services) -> None:
    for i in range(7):
        await services.policies.insert(
            make_policy(owner=OWNER_A, expiration_height=100 + i, status_detailed=S.Active), Cause.CHAIN
        )
    for i in range(3):
        await services.policies.insert(
            # Settling, not the default PendingCreation: creations not on chain yet are private to their owner.
            make_policy(
                owner=OWNER_B, expiration_height=500 + i, risk_tier=RiskTier.Aggressive, status_detailed=S.Settling
            ),
            Cause.REQUEST,
        )
    query = """query($f: PolicyFilterInput, $first: Int, $after: String) {
      policies(filter: $f, first: $first, after: $after) {
        totalCount edges { cursor node { id owner expirationHeight } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      } }"""
    counts = {
        "owner": ({"owner": OWNER_A}, 7),
        "status": ({"statusDetailed": "Settling"}, 3),
        "tier": ({"riskTier": "Aggressive"}, 3),
        "before": ({"expiresBefore": 103}, 3),
        "after": ({"expiresAfter": 501}, 1),
        "combined": ({"owner": OWNER_A, "statusDetailed": "Active", "expiresAfter": 104}, 2),
    }
    for name, (flt, expected) in counts.items():
        body = await gql(api, query, {"f": flt, "first": 50})
        assert body["data"]["policies"]["totalCount"] == expected, name
        assert len(body["data"]["policies"]["edges"]) == expected, name

    ids: list[str] = []
    after = None
    while True:
        page = (await gql(api, query, {"f": {"owner": OWNER_A}, "first": 3, "after": after}))["data"]["policies"]
        ids += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(ids) == len(set(ids)) == 7


async def test_history_lists_each_change(api: httpx.AsyncClient, services: Services) -> None:
    policy = await services.policies.insert(make_policy(), Cause.REQUEST)
    active = await services.policies.transition(policy, S.Active, Cause.CHAIN, details={"txId": "0xabc"})
    await services.policies.transition(active, S.Settling, Cause.REQUEST)
    body = await gql(api, f'{{ policyHistory(id: "{policy.id}") {{ version fromStatus toStatus cause details }} }}')
    assert body["data"]["policyHistory"] == [
        {"version": 0, "fromStatus": None, "toStatus": "PendingCreation", "cause": "request", "details": {}},
        {
            "version": 1,
            "fromStatus": "PendingCreation",
            "toStatus": "Active",
            "cause": "chain",
            "details": {"txId": "0xabc"},
        },
        {"version": 2, "fromStatus": "Active", "toStatus": "Settling", "cause": "request", "details": {}},
    ]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ('{ policies(after: "garbage") { totalCount } }', "cursor"),
        ("{ policies(first: 101) { totalCount } }", "between 1 and 100"),
        ("{ policies(first: 0) { totalCount } }", "between 1 and 100"),
        ("{ policies(filter: {statusDetailed: Bogus}) { totalCount } }", "Bogus"),
        ("{ policies(filter: {expiresAfter: 10, expiresBefore: 5}) { totalCount } }", "expiresAfter"),
        ("{ policies(first: 5 { totalCount } }", "Syntax Error"),
        ("{ nope }", "Cannot query field"),
        ('{ policy(id: "x") { id } }', "not a valid policy id"),
    ],
)
async def test_bad_input_gets_a_coded_error(api: httpx.AsyncClient, query: str, fragment: str) -> None:
    body = await gql(api, query)
    assert error_codes(body) == ["BAD_INPUT"], body
    assert fragment in body["errors"][0]["message"]


async def test_query_limits(services: Services, mongo_server: object) -> None:
    from policy_registry.app import create_app
    from policy_registry.settings import Settings

    # The schema is shallow (depth 5 at most), so prove the depth limit with a lower setting; introspection
    # fields are exempt from the depth count (GraphiQL's own introspection query is deep) but not from tokens.
    tight = Settings(max_query_depth=3, max_query_aliases=5, max_query_tokens=300, _env_file=None)
    app = create_app(tight, "unused", services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
        deep = "{ policies { edges { node { oracleSnapshotCreation { btcUsd8 } } } } }"
        body = await gql(api, deep)
        assert error_codes(body) == ["BAD_INPUT"] and "exceeds maximum operation depth" in body["errors"][0]["message"]
        shallow = "{ policies { edges { node { id } } } }"
        assert "errors" not in await gql(api, shallow)
        aliases = "{ " + " ".join(f"a{i}: policies {{ totalCount }}" for i in range(6)) + " }"
        assert error_codes(await gql(api, aliases)) == ["BAD_INPUT"]
        tokens = "{ policies { " + " ".join(["totalCount"] * 300) + " } }"
        assert error_codes(await gql(api, tokens)) == ["BAD_INPUT"]


async def test_unexpected_errors_are_masked_with_a_request_id(
    api: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(policy_id: str) -> None:
        raise RuntimeError("secret internals: mongodb://user:pass@host")

    monkeypatch.setattr(services.policy_queries, "get", broken)
    response = await api.post(
        "/graphql",
        json={"query": '{ policy(id: "65f000000000000000000000") { id } }'},
        headers={"x-request-id": "req-42"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["message"] == "Internal server error"
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL", "requestId": "req-42"}
    assert "secret" not in response.text
    assert response.headers["x-request-id"] == "req-42"


async def test_graphiql_is_served_with_local_assets(api: httpx.AsyncClient) -> None:
    page = await api.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "GraphiQL" in page.text
    assert "unpkg" not in page.text and "https://" not in page.text.split("<body>")[0]
    import re

    assets = re.findall(r'(?:src|href)="(/graphiql-assets/[^"]+)"', page.text)
    assert len(assets) == 7
    for asset in assets:
        response = await api.get(asset)
        assert response.status_code == 200 and len(response.content) > 500, asset


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True


async def test_a_count_only_query_reads_no_page_but_still_checks_its_arguments(
    api: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await services.policies.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    pages: list[object] = []
    real_page = services.policies.page

    async def counting_page(*args: object, **kwargs: object) -> object:
        pages.append(args)
        return await real_page(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services.policies, "page", counting_page)
    body = await gql(api, "{ policies(first: 5) { totalCount } }")
    assert body == {"data": {"policies": {"totalCount": 1}}} and pages == []
    assert error_codes(await gql(api, "{ policies(first: 500) { totalCount } }")) == ["BAD_INPUT"]
    body = await gql(api, "{ policies(first: 5) { totalCount edges { cursor } pageInfo { hasNextPage } } }")
    assert body["data"]["policies"]["totalCount"] == 1 and len(pages) == 1  # edges and pageInfo share one read


async def test_a_subscription_over_http_is_bad_input(api: httpx.AsyncClient) -> None:
    body = await gql(api, "subscription { chainTip { burnHeight } }")
    assert error_codes(body) == ["BAD_INPUT"] and "WebSocket" in body["errors"][0]["message"]
