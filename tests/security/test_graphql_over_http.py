"""GraphQL over HTTP follows its spec (docs/api.md "GraphQL over HTTP"); the whole audit list runs in tests/conformance.

- A mutation sent with GET: 405 with `Allow: POST`, and it does not run.
- Several operations and no `operationName`: 400 and nothing runs (`mutation B { signOut } query A { me }` used
  to sign the caller out); the same document over both WebSocket protocols is an error and runs nothing.
- `Accept: application/graphql-response+json`: that media type, 400 for parse, validation and variable-coercion
  errors; no `data` key when a request fails before execution (both media types).
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
import pytest

from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.settings import Settings
from services.store.mongo import MongoStore
from tests.api.sessions import open_session
from tests.security.hostile import ServerInThread, run_hostile
from tests.security.wire import (
    GRAPHQL_RESPONSE_JSON,
    PROTOCOLS,
    acknowledged,
    answer,
    errors_of,
    http_client,
    operation_frame,
)

ADDRESS = "ST2ZRX0K27GW0SP3GJCEMHD95TQGJMKB7G9Y0X1MH"
ME = "{ me { address } }"
SIGN_OUT_FIRST = "mutation B { signOut } query A { me { address } }"


@pytest.fixture
async def token(mongo_server: EmbeddedMongo, settings: Settings) -> str:
    store = MongoStore(mongo_server.uri, settings.mongodb_database, timeout_ms=3000)
    try:
        return await open_session(store, ADDRESS)
    finally:
        await store.close()


async def _me(client: httpx.AsyncClient, token: str) -> Any:
    response = await client.post("/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"})
    return response.json()


async def test_a_mutation_over_get_is_405_with_allow_post_and_does_not_run(target: ServerInThread, token: str) -> None:
    auth = {"authorization": f"Bearer {token}"}
    async with http_client(target.http_url) as client:
        for accept in ("application/json", GRAPHQL_RESPONSE_JSON):
            headers = {**auth, "accept": accept}
            outcome = await run_hostile(
                target,
                functools.partial(client.get, "/graphql", params={"query": "mutation { signOut }"}, headers=headers),
            )
            response = outcome.result
            assert response.status_code == 405 and response.headers["allow"] == "POST", response.text
            assert response.headers["content-type"].startswith(accept)
            assert response.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT" and "data" not in response.json()
        assert (await _me(client, token))["data"]["me"]["address"] == ADDRESS  # still signed in
        query = await client.get("/graphql", params={"query": ME}, headers={**auth, "accept": "application/json"})
        assert query.status_code == 200 and query.json()["data"]["me"]["address"] == ADDRESS  # queries stay on GET


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE_JSON])
async def test_several_operations_without_a_name_are_400_and_nothing_runs(
    target: ServerInThread, token: str, accept: str
) -> None:
    headers = {"authorization": f"Bearer {token}", "accept": accept}
    async with http_client(target.http_url) as client:
        for document in (SIGN_OUT_FIRST, "query A { me { address } } mutation B { signOut }"):
            outcome = await run_hostile(
                target, functools.partial(client.post, "/graphql", json={"query": document}, headers=headers)
            )
            response = outcome.result
            assert response.status_code == 400, response.text
            body = response.json()
            assert "data" not in body and body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
            assert "operationName" in body["errors"][0]["message"]
        unknown = await client.post("/graphql", json={"query": SIGN_OUT_FIRST, "operationName": "C"}, headers=headers)
        assert unknown.status_code == 400 and "data" not in unknown.json()
        assert (await _me(client, token))["data"]["me"]["address"] == ADDRESS  # signOut never ran
        named = await client.post("/graphql", json={"query": SIGN_OUT_FIRST, "operationName": "A"}, headers=headers)
        assert named.status_code == 200 and named.json()["data"]["me"]["address"] == ADDRESS


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_several_operations_without_a_name_over_websockets_run_nothing(
    target: ServerInThread, token: str, protocol: str
) -> None:
    document = "subscription A { chainTip { stacksHeight } } subscription B { chainTip { burnHeight } }"
    if protocol == PROTOCOLS[0]:
        document = SIGN_OUT_FIRST  # graphql-transport-ws carries mutations too
    async with acknowledged(target.ws_url, protocol, token) as ws:
        frame = operation_frame(protocol, "two", {"query": document})
        outcome = await run_hostile(target, lambda: answer(ws, frame))
        (error,) = errors_of(outcome.result)
        assert error["extensions"]["code"] == "BAD_INPUT" and "operationName" in error["message"], error
    async with http_client(target.http_url) as client:
        assert (await _me(client, token))["data"]["me"]["address"] == ADDRESS


REQUEST_ERRORS = [
    ("parse", {"query": "{"}),
    ("validation", {"query": "{ nope }"}),
    ("variable coercion", {"query": "query($id: ID!) { policy(id: $id) { id } }", "variables": {"id": None}}),
    ("no query", {"variables": {}}),
]


@pytest.mark.parametrize(("name", "body"), REQUEST_ERRORS, ids=[r[0] for r in REQUEST_ERRORS])
async def test_request_errors_per_media_type(target: ServerInThread, name: str, body: dict[str, Any]) -> None:
    async with http_client(target.http_url) as client:
        for accept, status in ((GRAPHQL_RESPONSE_JSON, 400), ("application/json", 200), ("*/*", 200)):
            outcome = await run_hostile(
                target, functools.partial(client.post, "/graphql", json=body, headers={"accept": accept})
            )
            response = outcome.result
            expected = 400 if name == "no query" else status  # no query at all is a malformed request on both
            assert response.status_code == expected, (accept, response.text)
            media = GRAPHQL_RESPONSE_JSON if accept == GRAPHQL_RESPONSE_JSON else "application/json"
            assert response.headers["content-type"].startswith(media)
            payload = response.json()
            assert "data" not in payload and payload["errors"][0]["extensions"]["code"] == "BAD_INPUT", payload


async def test_field_errors_keep_data_and_200(target: ServerInThread) -> None:
    """An error inside execution is not a request error: `data` is there (null here) and the status is 200."""
    async with http_client(target.http_url) as client:
        response = await client.post(
            "/graphql",
            json={"query": '{ policyHistory(id: "nope") { cause } }'},
            headers={"accept": GRAPHQL_RESPONSE_JSON},
        )
    body = response.json()
    assert response.status_code == 200 and "data" in body and body["errors"][0]["path"] == ["policyHistory"], body
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
