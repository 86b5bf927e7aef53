"""A pending policy is indistinguishable from a missing one (docs/security.md "Hostile clients").

Every operation on another wallet's PendingCreation policy answers exactly as for an id that does not exist: the
same code, the same message once the id is normalized, the same extension keys. Checked over HTTP and both
WebSocket protocols, for another signed-in wallet and for an anonymous caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bson import ObjectId

from policy_registry.container import Services
from policy_registry.embedded.secantus import EmbeddedMongo
from services.core.status import StatusDetailed
from services.policies.quotes import PolicyParameters
from tests.api.gql_ws import GRAPHQL_WS, TRANSPORT_WS, GraphQLSocket
from tests.api.graphql_client import gql
from tests.fixtures.devnet import DevnetFixture
from tests.security.chain import Key, chain_settings, ready_services, sign_in
from tests.security.hostile import ServerInThread, server_in_thread

pytestmark = pytest.mark.devnet
ONCHAIN_ID = 987_654_321  # given to the pending policy below; nothing else on the devnet has it


@dataclass
class Scene:
    server: ServerInThread
    services: Services
    pending_id: str
    missing_id: str
    other: dict[str, str]  # another wallet's session header


@pytest.fixture
async def scene(devnet: DevnetFixture, mongo_server: EmbeddedMongo, db_name: str) -> AsyncIterator[Scene]:
    settings = chain_settings(devnet, db_name, instance_id=f"privacy-{db_name}")
    services = await ready_services(settings, mongo_server.uri, devnet)
    assert services.creation is not None
    owner = devnet.accounts["wallet_1"].address
    created = await services.creation.request_creation(
        owner, PolicyParameters("PUT", 10_000_000, 9_500_000_000_000, 30), "private-1"
    )
    assert created.policy.status_detailed is StatusDetailed.PendingCreation
    # Defence in depth: even a pending policy that carried an on-chain id would answer as missing to others.
    await services.store.db.policies.update_one(
        {"_id": ObjectId(created.policy.id)}, {"$set": {"policy_id_onchain": ONCHAIN_ID}}
    )
    try:
        async with server_in_thread(settings, mongo_server.uri) as server:
            async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
                other = await sign_in(client, Key.of(devnet, "wallet_2"))
            yield Scene(server, services, created.policy.id, str(ObjectId()), other)
    finally:
        await services.store.client.drop_database(db_name)
        await services.close()


def normalized(answer: Any, policy_id: str | None, onchain_id: int | None = None) -> str:
    text = json.dumps(answer, sort_keys=True)
    if policy_id is not None:
        text = text.replace(policy_id, "<id>")
    if onchain_id is not None:
        text = re.sub(rf"\b{onchain_id}\b", "<onchain-id>", text)
    return text


HTTP_OPERATIONS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "policy": ("query($id: ID!) { policy(id: $id) { id statusDetailed } }", lambda i: {"id": i}),
    "policyHistory": ("query($id: ID!) { policyHistory(id: $id) { toStatus } }", lambda i: {"id": i}),
    "submitPolicyCreationTx": (
        "mutation($id: ID!, $t: String!) { submitPolicyCreationTx(policyId: $id, txId: $t) { id } }",
        lambda i: {"id": i, "t": "ab" * 32},
    ),
}


# A token that is not valid (unknown, expired, signed out): an existence oracle if only private reads looked at it.
STALE_TOKEN = {"authorization": "Bearer not-a-session-token"}


@pytest.mark.parametrize("caller", ["other wallet", "anonymous", "stale token"])
@pytest.mark.parametrize("operation", sorted(HTTP_OPERATIONS))
async def test_http_operations_answer_a_pending_policy_as_a_missing_one(
    scene: Scene, operation: str, caller: str
) -> None:
    query, variables = HTTP_OPERATIONS[operation]
    headers = {"other wallet": scene.other, "anonymous": {}, "stale token": STALE_TOKEN}[caller]
    async with httpx.AsyncClient(base_url=scene.server.http_url, timeout=10) as client:
        missing = await gql(client, query, variables(scene.missing_id), headers=headers)
        pending = await gql(client, query, variables(scene.pending_id), headers=headers)
    assert normalized(pending, scene.pending_id) == normalized(missing, scene.missing_id)
    if caller == "stale token":
        assert missing["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    elif operation == "policy":
        assert missing == {"data": {"policy": None}}
    elif operation == "submitPolicyCreationTx" and caller == "anonymous":
        assert missing["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    else:
        assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("caller", ["other wallet", "stale token"])
async def test_by_on_chain_id_a_pending_policy_answers_as_a_missing_one(scene: Scene, caller: str) -> None:
    headers = scene.other if caller == "other wallet" else STALE_TOKEN
    missing_onchain = ONCHAIN_ID + 1
    activate = "mutation($n: Int!) { requestPolicyActivation(policyIdOnChain: $n) { id } }"
    read = "query($n: Int!) { policyByOnChainId(policyIdOnChain: $n) { id } }"
    async with httpx.AsyncClient(base_url=scene.server.http_url, timeout=10) as client:
        for query in (activate, read):
            missing = await gql(client, query, {"n": missing_onchain}, headers=headers)
            pending = await gql(client, query, {"n": ONCHAIN_ID}, headers=headers)
            assert normalized(pending, None, ONCHAIN_ID) == normalized(missing, None, missing_onchain), pending
    if caller == "other wallet":
        assert missing == {"data": {"policyByOnChainId": None}}
    else:
        assert missing["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, GRAPHQL_WS])
@pytest.mark.parametrize("caller", ["other wallet", "anonymous"])
async def test_policy_updated_answers_a_pending_policy_as_a_missing_one(
    scene: Scene, protocol: str, caller: str
) -> None:
    payload = {"authorization": scene.other["authorization"]} if caller == "other wallet" else {}
    socket = await GraphQLSocket.open(scene.server.ws_url, protocol, payload)

    async def subscribe(policy_id: str) -> dict[str, Any]:
        op = f"op-{policy_id}"
        await socket.subscribe(op, "subscription($id: ID!) { policyUpdated(id: $id) { id } }", {"id": policy_id})
        message = await socket.for_op(op)
        message.pop("id")
        return message

    try:
        missing = await subscribe(scene.missing_id)
        pending = await subscribe(scene.pending_id)
    finally:
        await socket.close()
    assert normalized(pending, scene.pending_id) == normalized(missing, scene.missing_id)
    assert "NOT_FOUND" in json.dumps(missing), missing
