"""Wallet sign-in through the API: reference-library signatures, sessions over HTTP and WebSockets, failures,
and session tokens that appear nowhere but in `authenticate`'s answer."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.settings import Settings
from resolvers.context import RequestContext
from resolvers.permissions import presented_operator_token, presented_token
from services.auth.operator import check_operator_token
from services.auth.service import AuthService
from services.core.clock import now_utc
from services.core.errors import Forbidden, Unauthenticated
from tests.api.gql_ws import GRAPHQL_WS, GraphQLSocket
from tests.api.graphql_client import error_codes, gql
from tests.services.auth.wallet import KEY_1, KEY_2, needs_node, wallet_sign

pytestmark = needs_node

CHALLENGE = "mutation($a: String!) { authChallenge(address: $a) { address message expiresAt } }"
AUTHENTICATE = """mutation($a: String!, $k: String!, $s: String!) {
  authenticate(address: $a, publicKey: $k, signature: $s) { token session { address expiresAt createdAt } }
}"""
ME = "{ me { address expiresAt } }"
SIGN_OUT = "mutation { signOut }"


async def sign_in(api: httpx.AsyncClient, key: str = KEY_1, network: str = "testnet") -> tuple[str, str]:
    """(address, token) after a real sign-in."""
    [me] = wallet_sign(("-", key, network))
    challenge = (await gql(api, CHALLENGE, {"a": me.address}))["data"]["authChallenge"]
    [signed] = wallet_sign((challenge["message"], key, network))
    body = await gql(api, AUTHENTICATE, {"a": me.address, "k": signed.public_key, "s": signed.signature})
    payload = body["data"]["authenticate"]
    assert payload["session"]["address"] == me.address
    return me.address, payload["token"]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_sign_in_me_and_sign_out(api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        assert (await gql(api, ME))["data"] == {"me": None}  # anonymous: no session, no error
        address, token = await sign_in(api)
        me = (await gql(api, ME, headers=bearer(token)))["data"]["me"]
        assert me["address"] == address
        response = await api.post("/graphql", json={"query": ME}, headers=bearer(token))
        assert token not in response.text

        assert (await gql(api, SIGN_OUT, headers=bearer(token)))["data"] == {"signOut": True}
        for operation in (ME, SIGN_OUT):
            body = await gql(api, operation, headers=bearer(token))
            assert error_codes(body) == ["UNAUTHENTICATED"], body
            assert token not in str(body)
        assert error_codes(await gql(api, SIGN_OUT)) == ["UNAUTHENTICATED"]  # no session at all
        assert error_codes(await gql(api, ME, headers={"authorization": f"Basic {token}"})) == ["UNAUTHENTICATED"]
    assert token not in caplog.text
    assert "signed in " + address in caplog.text  # the log says who, never with what


async def test_failed_sign_ins(api: httpx.AsyncClient, services: Services) -> None:
    [me, other] = wallet_sign(("-", KEY_1, "testnet"), ("-", KEY_2, "testnet"))
    challenge = (await gql(api, CHALLENGE, {"a": me.address}))["data"]["authChallenge"]
    [mine, theirs] = wallet_sign((challenge["message"], KEY_1, "testnet"), (challenge["message"], KEY_2, "testnet"))

    wrong_key = await gql(api, AUTHENTICATE, {"a": me.address, "k": other.public_key, "s": theirs.signature})
    assert error_codes(wrong_key) == ["UNAUTHENTICATED"]
    wrong_signer = await gql(api, AUTHENTICATE, {"a": me.address, "k": me.public_key, "s": theirs.signature})
    assert error_codes(wrong_signer) == ["UNAUTHENTICATED"]

    ok = await gql(api, AUTHENTICATE, {"a": me.address, "k": mine.public_key, "s": mine.signature})
    assert ok["data"]["authenticate"]["token"]
    reused = await gql(api, AUTHENTICATE, {"a": me.address, "k": mine.public_key, "s": mine.signature})
    assert error_codes(reused) == ["UNAUTHENTICATED"] and "challenge" in reused["errors"][0]["message"]

    late = (await gql(api, CHALLENGE, {"a": me.address}))["data"]["authChallenge"]
    await services.store.db.auth_challenges.update_many({"used_at": None}, {"$set": {"expires_at": now_utc()}})
    [signed_late] = wallet_sign((late["message"], KEY_1, "testnet"))
    expired = await gql(api, AUTHENTICATE, {"a": me.address, "k": signed_late.public_key, "s": signed_late.signature})
    assert error_codes(expired) == ["UNAUTHENTICATED"]

    malformed = await gql(api, AUTHENTICATE, {"a": me.address, "k": "xyz", "s": mine.signature})
    assert error_codes(malformed) == ["BAD_INPUT"]


async def test_mainnet_settings_refuse_testnet_addresses(services: Services, settings: Settings) -> None:
    mainnet = settings.model_copy(update={"stacks_network": "mainnet"})
    services.auth = AuthService(services.store, "mainnet", 300, 3600)  # what Services.create builds for mainnet
    app = create_app(mainnet, "unused", services=services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
        [testnet, real] = wallet_sign(("-", KEY_1, "testnet"), ("-", KEY_1, "mainnet"))
        refused = await gql(api, CHALLENGE, {"a": testnet.address})
        assert error_codes(refused) == ["BAD_INPUT"] and "mainnet" in refused["errors"][0]["message"]
        signed = wallet_sign(("anything", KEY_1, "testnet"))[0]
        body = await gql(api, AUTHENTICATE, {"a": testnet.address, "k": signed.public_key, "s": signed.signature})
        assert error_codes(body) == ["BAD_INPUT"]
        address, token = await sign_in(api, KEY_1, "mainnet")
        assert address == real.address and address.startswith("SP")
        assert (await gql(api, ME, headers=bearer(token)))["data"]["me"]["address"] == address


async def test_websocket_sessions_ride_on_connection_init(
    ws_url: str, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        address, token = await sign_in(api)
        for payload in ({"authorization": f"Bearer {token}"}, {"token": token}):
            client = await GraphQLSocket.open(ws_url, payload=payload)
            try:
                assert client.ack["payload"]["address"] == address and token not in str(client.ack)
                await client.subscribe("me", ME)
                assert (await client.next_data("me", "me"))["address"] == address
            finally:
                await client.close()
        anonymous = await GraphQLSocket.open(ws_url)
        await anonymous.subscribe("me", ME)
        assert (await anonymous.next_payload("me"))["data"] == {"me": None}
        await anonymous.close()
        legacy = await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS, payload={"token": token})
        assert legacy.ack["payload"]["address"] == address
        await legacy.subscribe("me", ME)  # graphql-ws carries subscriptions only: a query is the client's mistake
        refused_query = await legacy.for_op("me")
        assert refused_query["type"] == "error" and refused_query["payload"]["extensions"]["code"] == "BAD_INPUT"
        await legacy.close()

        await gql(api, SIGN_OUT, headers=bearer(token))
        with pytest.raises(ConnectionRefusedError, match="closed 4403"):
            await GraphQLSocket.open(ws_url, payload={"token": token})  # graphql-transport-ws: closed with 4403
        with pytest.raises(ConnectionRefusedError) as refused:
            await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS, payload={"token": token})
        assert "connection_error" in str(refused.value) and "UNAUTHENTICATED" in str(refused.value)
        assert token not in str(refused.value)
    assert token not in caplog.text


def _context(services: Services, headers: dict[str, str], params: dict[str, object] | None = None) -> RequestContext:
    from starlette.requests import Request

    scope = {"type": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    return RequestContext(Request(scope), None, services, "r", connection_params=params)


async def test_where_tokens_are_read_from(services: Services) -> None:
    assert presented_token(_context(services, {})) is None
    assert presented_token(_context(services, {"authorization": "Bearer abc"})) == "abc"
    assert presented_token(_context(services, {}, {"authorization": "bearer xyz"})) == "xyz"
    assert presented_token(_context(services, {"authorization": "Bearer abc"}, {"token": "xyz"})) == "xyz"
    with pytest.raises(Unauthenticated):
        presented_token(_context(services, {"authorization": "Token abc"}))
    operator = _context(services, {"x-operator-token": "s3cret-operator"})
    assert presented_operator_token(operator) == "s3cret-operator"
    assert presented_operator_token(_context(services, {}, {"operatorToken": "t"})) == "t"
    check_operator_token(presented_operator_token(operator), SecretStr("s3cret-operator"))
    with pytest.raises(Forbidden):
        check_operator_token(presented_operator_token(operator), SecretStr("another"))
