"""What a list view asks for, through the whole app: `statusIn`, `orderBy`, backward pages, `me.policies` and
`stats`, with their refusals."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import httpx
import pytest

from policy_registry.container import Services
from services.core.models import RiskTier
from services.core.status import Cause, StatusDetailed
from tests.api.graphql_client import error_codes, gql
from tests.api.sessions import open_session
from tests.factories import OWNER_A, OWNER_B, make_policy

S = StatusDetailed
PAGE = """
query($f: PolicyFilterInput, $o: PolicyOrder!, $first: Int, $after: String, $last: Int, $before: String) {
  policies(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
    asOf totalCount
    edges { cursor node { id statusDetailed expirationHeight premiumUstx } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
MINE = """
query($f: PolicyFilterInput, $o: PolicyOrder!, $last: Int) {
  me {
    address
    policies(filter: $f, orderBy: $o, last: $last) { totalCount edges { node { id owner statusDetailed } } }
  }
}"""
STATS = """{ stats { asOf totals { policyCount protectedAmountSats collateralUstx premiumUstx }
  groups { riskTier statusDetailed policyCount protectedAmountSats collateralUstx premiumUstx } } }"""


@pytest.fixture
async def listed(services: Services) -> dict[str, list[str]]:
    """A's: Active ×3 (expirations 300/100/200, premiums 5/9/7), Settling, Expiring, Settled, PendingCreation;
    B's: Active, PendingCreation."""
    made: dict[str, list[str]] = {"A": [], "B": []}
    for owner, status, height, premium in [
        (OWNER_A, S.Active, 300, 5),
        (OWNER_A, S.Active, 100, 9),
        (OWNER_A, S.Active, 200, 7),
        (OWNER_A, S.Settling, 400, 1),
        (OWNER_A, S.Expiring, 50, 2),
        (OWNER_A, S.Settled, 10, 3),
        (OWNER_A, S.PendingCreation, 20, 100),
        (OWNER_B, S.Active, 60, 4),
        (OWNER_B, S.PendingCreation, 70, 200),
    ]:
        record = make_policy(
            owner=owner,
            status_detailed=status,
            expiration_height=height,
            premium_ustx=premium,
            risk_tier=RiskTier.Balanced if premium % 2 else RiskTier.Aggressive,
        )
        await services.policies.insert(record, Cause.REQUEST)
        made["A" if owner == OWNER_A else "B"].append(record.id)
    return made


def _ids(body: dict[str, Any], path: str = "policies") -> list[str]:
    node = body["data"]
    for key in path.split("."):
        node = node[key]
    return [e["node"]["id"] for e in node["edges"]]


async def test_open_policies_expiring_soonest_with_status_in(
    api: httpx.AsyncClient, listed: dict[str, list[str]]
) -> None:
    a = listed["A"]
    body = await gql(
        api,
        PAGE,
        {"f": {"owner": OWNER_A, "statusIn": ["Active", "Settling", "Expiring"]}, "o": "EXPIRATION_HEIGHT_ASC"},
    )
    assert "errors" not in body, body
    assert _ids(body) == [a[4], a[1], a[2], a[0], a[3]]  # heights 50, 100, 200, 300, 400
    assert body["data"]["policies"]["totalCount"] == 5
    assert datetime.fromisoformat(body["data"]["policies"]["asOf"]).tzinfo is not None


async def test_largest_premium_first_paged_backwards(api: httpx.AsyncClient, listed: dict[str, list[str]]) -> None:
    a, b = listed["A"], listed["B"]
    everything = [a[1], a[2], a[0], b[0], a[5], a[4], a[3]]  # public only: premiums 9 7 5 4 3 2 1
    body = await gql(api, PAGE, {"o": "PREMIUM_DESC", "last": 3})
    page = body["data"]["policies"]
    assert _ids(body) == everything[-3:]
    assert page["pageInfo"]["hasPreviousPage"] is True and page["pageInfo"]["hasNextPage"] is False
    body = await gql(api, PAGE, {"o": "PREMIUM_DESC", "last": 3, "before": page["pageInfo"]["startCursor"]})
    page = body["data"]["policies"]
    assert _ids(body) == everything[1:4]
    assert page["pageInfo"]["hasPreviousPage"] is True and page["pageInfo"]["hasNextPage"] is True
    body = await gql(api, PAGE, {"o": "PREMIUM_DESC", "last": 3, "before": page["pageInfo"]["startCursor"]})
    assert _ids(body) == everything[:1]
    assert body["data"]["policies"]["pageInfo"]["hasPreviousPage"] is False
    # and forwards from the first page's end: hasPreviousPage is exact too
    body = await gql(api, PAGE, {"o": "PREMIUM_DESC", "first": 1})
    body = await gql(
        api, PAGE, {"o": "PREMIUM_DESC", "first": 2, "after": body["data"]["policies"]["pageInfo"]["endCursor"]}
    )
    assert _ids(body) == everything[1:3]
    assert body["data"]["policies"]["pageInfo"]["hasPreviousPage"] is True


async def test_me_policies_include_my_pending_creations_only(
    api: httpx.AsyncClient, services: Services, listed: dict[str, list[str]]
) -> None:
    token = await open_session(services.store, OWNER_A)
    auth = {"authorization": f"Bearer {token}"}
    body = await gql(api, MINE, {"o": "CREATED_AT_DESC"}, headers=auth)
    assert body["data"]["me"]["address"] == OWNER_A
    assert _ids(body, "me.policies") == list(reversed(listed["A"]))  # the pending one included
    assert {e["node"]["owner"] for e in body["data"]["me"]["policies"]["edges"]} == {OWNER_A}
    body = await gql(api, MINE, {"o": "PREMIUM_DESC", "f": {"statusIn": ["PendingCreation"]}, "last": 5}, headers=auth)
    assert _ids(body, "me.policies") == [listed["A"][6]]
    body = await gql(api, MINE, {"o": "CREATED_AT_DESC", "f": {"owner": OWNER_B}}, headers=auth)
    assert error_codes(body) == ["BAD_INPUT"] and body["errors"][0]["extensions"]["field"] == "filter.owner"
    assert (await gql(api, MINE, {"o": "CREATED_AT_DESC"}))["data"]["me"] is None  # anonymous


async def test_stats_count_public_policies_in_the_database(
    api: httpx.AsyncClient, listed: dict[str, list[str]]
) -> None:
    body = await gql(api, STATS)
    stats = body["data"]["stats"]
    assert stats["totals"] == {
        "policyCount": 7,
        "protectedAmountSats": str(7 * 10_000_000),
        "collateralUstx": str(7 * 10_450_000_000),
        "premiumUstx": str(9 + 7 + 5 + 4 + 3 + 2 + 1),
    }
    groups = {(g["riskTier"], g["statusDetailed"]): (g["policyCount"], g["premiumUstx"]) for g in stats["groups"]}
    assert groups == {
        ("Balanced", "Active"): (3, "21"),  # 9 + 7 + 5
        ("Balanced", "Settled"): (1, "3"),
        ("Balanced", "Settling"): (1, "1"),
        ("Aggressive", "Active"): (1, "4"),
        ("Aggressive", "Expiring"): (1, "2"),
    }


def _forged(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"o": "CREATED_AT_DESC", "f": {"statusIn": []}}, "filter.statusIn"),
        ({"o": "CREATED_AT_DESC", "f": {"statusIn": ["Active"] * 10}}, "filter.statusIn"),
        ({"o": "CREATED_AT_DESC", "first": 2, "last": 2}, "last"),
        ({"o": "CREATED_AT_DESC", "after": "x", "before": "y"}, "before"),
        ({"o": "CREATED_AT_DESC", "last": 0}, "last"),
        ({"o": "CREATED_AT_DESC", "last": 101}, "last"),
        ({"o": "CREATED_AT_DESC", "before": "b" * 101}, "before"),
        ({"o": "PREMIUM_DESC", "before": "bm90IGEgY3Vyc29y"}, "before"),
        # a well-formed cursor whose sort key is past int64: refused, never sent to the database (an 8-byte int)
        ({"o": "PREMIUM_DESC", "after": _forged("policy:v2:p:9223372036854775808:65f000000000000000000001")}, "after"),
        (
            {
                "o": "EXPIRATION_HEIGHT_ASC",
                "before": _forged("policy:v2:e:99999999999999999999:65f000000000000000000001"),
            },
            "before",
        ),
    ],
)
async def test_bad_list_arguments_are_bad_input(api: httpx.AsyncClient, variables: dict[str, Any], field: str) -> None:
    body = await gql(api, PAGE, variables)
    assert error_codes(body) == ["BAD_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field


async def test_a_cursor_used_with_another_order_is_bad_input(
    api: httpx.AsyncClient, listed: dict[str, list[str]]
) -> None:
    body = await gql(api, PAGE, {"o": "EXPIRATION_HEIGHT_ASC", "first": 1})
    cursor = body["data"]["policies"]["pageInfo"]["endCursor"]
    for order in ("CREATED_AT_DESC", "PREMIUM_DESC"):
        for arg in ("after", "before"):
            body = await gql(api, PAGE, {"o": order, arg: cursor})
            assert error_codes(body) == ["BAD_INPUT"]
            assert body["errors"][0]["extensions"] == {
                "code": "BAD_INPUT",
                "field": arg,
                "orderBy": "EXPIRATION_HEIGHT_ASC",
            }
    assert "errors" not in await gql(api, PAGE, {"o": "EXPIRATION_HEIGHT_ASC", "after": cursor})
