"""An invalid principal is BAD_INPUT wherever the API accepts one (docs/security.md): the `policies` owner filter
(it used to answer an empty page), `policiesUpdated(owner)` over both WebSocket protocols, and sign-in. Standard
and contract principals are both owners."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from policy_registry.container import Services
from services.chain.c32 import AddressVersion, encode_address
from services.core.status import Cause, StatusDetailed
from tests.api.gql_ws import GRAPHQL_WS, TRANSPORT_WS, GraphQLSocket
from tests.api.graphql_client import error_codes, gql
from tests.factories import OWNER_A, make_policy
from tests.security.hostile import ServerInThread

VALID = encode_address(AddressVersion.TESTNET_SINGLE_SIG, bytes(range(20)))
INVALID = {
    "garbage": "garbage",
    "bad checksum": VALID[:-1] + ("0" if VALID[-1] != "0" else "1"),
    "not c32": VALID[:10] + "U" + VALID[11:],
    "short": "ST12",
    "contract with a bad name": f"{VALID}.9starts-with-a-digit",
    "empty": "",
}
POLICIES = "query($o: String) { policies(filter: {owner: $o}) { totalCount } }"


@pytest.mark.parametrize("owner", list(INVALID.values()), ids=list(INVALID))
async def test_the_policies_owner_filter_refuses_an_invalid_principal(api: httpx.AsyncClient, owner: str) -> None:
    body = await gql(api, POLICIES, {"o": owner})
    assert error_codes(body) == ["BAD_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == "filter.owner"


@pytest.mark.parametrize("owner", [VALID, f"{VALID}.liquidity-pool-vault"], ids=["standard", "contract"])
async def test_the_policies_owner_filter_takes_standard_and_contract_principals(
    api: httpx.AsyncClient, owner: str
) -> None:
    assert await gql(api, POLICIES, {"o": owner}) == {"data": {"policies": {"totalCount": 0}}}


# c32check reads the digits after the S case-insensitively, with O for 0 and I/L for 1: these name OWNER_A too.
OWNER_A_SPELLINGS = {"lowercase": "S" + OWNER_A[1:].lower(), "I for 1": OWNER_A.replace("1", "I")}


@pytest.mark.parametrize("owner", list(OWNER_A_SPELLINGS.values()), ids=list(OWNER_A_SPELLINGS))
async def test_the_policies_owner_filter_finds_an_owner_however_it_is_spelled(
    api: httpx.AsyncClient, services: Services, owner: str
) -> None:
    """An address the filter accepts names its owner's policies, not an empty page."""
    assert owner != OWNER_A
    await services.policies.insert(make_policy(status_detailed=StatusDetailed.Active), Cause.REQUEST)
    assert await gql(api, POLICIES, {"o": owner}) == {"data": {"policies": {"totalCount": 1}}}


def _errors(message: dict[str, Any]) -> list[dict[str, Any]]:
    payload: Any = message.get("payload")
    if message["type"] == "error":
        return payload if isinstance(payload, list) else [payload]
    errors: list[dict[str, Any]] = payload.get("errors", [])
    return errors


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, GRAPHQL_WS])
async def test_policies_updated_refuses_an_invalid_owner(target: ServerInThread, protocol: str) -> None:
    socket = await GraphQLSocket.open(target.ws_url, protocol)
    try:
        for n, owner in enumerate(INVALID.values()):
            await socket.subscribe(
                f"s{n}", "subscription($o: String!) { policiesUpdated(owner: $o) { id } }", {"o": owner}
            )
            errors = _errors(await socket.for_op(f"s{n}"))
            assert errors and errors[0]["extensions"]["code"] == "BAD_INPUT", (owner, errors)
            assert errors[0]["extensions"]["field"] == "owner"
    finally:
        await socket.close()


@pytest.mark.parametrize("address", list(INVALID.values()), ids=list(INVALID))
async def test_sign_in_refuses_an_invalid_address(api: httpx.AsyncClient, address: str) -> None:
    body = await gql(api, "mutation($a: String!) { authChallenge(address: $a) { message } }", {"a": address})
    assert error_codes(body) == ["BAD_INPUT"] and body["errors"][0]["extensions"]["field"] == "address", body
