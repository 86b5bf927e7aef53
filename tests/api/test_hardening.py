"""Request limits and exposure settings: rate limits (HTTP per client IP, WebSocket per connection), body size,
CORS and WebSocket origins, introspection and GraphiQL switches."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.embedded.secantus import EmbeddedMongo
from policy_registry.ratelimit import ClientRateLimiter, TokenBucket
from policy_registry.settings import Settings
from tests.api.gql_ws import TRANSPORT_WS, GraphQLSocket
from tests.api.graphql_client import error_codes, gql
from tests.api.live import serve_in_loop

QUERY = {"query": "{ policies(first: 1) { totalCount } }"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client_for(settings: Settings, services: Services, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    app = create_app(settings, "unused", services=services)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://t")


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    clock.now += 100
    assert [bucket.take() for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refills up to the burst, not beyond


def test_the_limiter_keeps_a_bounded_number_of_clients() -> None:
    limiter = ClientRateLimiter(rate=1.0, burst=1, max_clients=2, clock=Clock())
    assert limiter.check("a") == 0.0 and limiter.check("b") == 0.0
    assert limiter.check("a") > 0  # a spent its token
    limiter.check("c")  # evicts b, the least recently seen
    assert limiter.check("b") == 0.0


async def test_http_rate_limit_per_client_ip(services: Services, settings: Settings) -> None:
    tight = settings.model_copy(update={"rate_limit_per_s": 0.5, "rate_limit_burst": 3})
    async with client_for(tight, services) as api, client_for(tight, services, ip="198.51.100.9") as other:
        assert [(await api.post("/graphql", json=QUERY)).status_code for _ in range(3)] == [200, 200, 200]
        refused = await api.post("/graphql", json=QUERY, headers={"origin": "http://127.0.0.1:8000"})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 2}
        assert refused.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"  # browsers can read it
        assert (await other.post("/graphql", json=QUERY)).status_code == 200  # another client, its own bucket
        assert all([(await api.get(path)).status_code == 200 for path in ("/healthz", "/readyz") * 5])
    off = settings.model_copy(update={"rate_limit_per_s": 0})
    async with client_for(off, services) as api:
        assert all([(await api.post("/graphql", json=QUERY)).status_code == 200 for _ in range(30)])


async def test_request_bodies_above_the_limit_get_413(services: Services, settings: Settings) -> None:
    small = settings.model_copy(update={"max_request_bytes": 1024})
    big = {"query": QUERY["query"], "variables": {"pad": "x" * 2000}}
    async with client_for(small, services) as api:
        refused = await api.post("/graphql", json=big)
        assert refused.status_code == 413
        assert refused.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE", "max": 1024}

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            body = json.dumps(big).encode()
            for i in range(0, len(body), 256):
                yield body[i : i + 256]

        streamed = await api.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert (await api.post("/graphql", json=QUERY)).status_code == 200


async def test_cors_allows_only_the_configured_origins(services: Services, settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": ["https://app.bithedge.example"]})
    async with client_for(configured, services) as api:
        preflight = {"access-control-request-method": "POST"}
        allowed = await api.options(
            "/graphql",
            headers={
                "origin": "https://app.bithedge.example",
                "access-control-request-headers": "authorization, content-type, x-operator-token",
                **preflight,
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.bithedge.example"
        other = await api.options("/graphql", headers={"origin": "https://evil.example", **preflight})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        simple = await api.post("/graphql", json=QUERY, headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in simple.headers
    with pytest.raises(ValueError, match="'\\*' is not allowed"):
        Settings(cors_origins="*", _env_file=None)


async def test_introspection_and_graphiql_can_be_switched_off(services: Services, settings: Settings) -> None:
    introspect = "{ __schema { queryType { name } } }"
    html = {"accept": "text/html"}
    async with client_for(settings, services) as api:
        assert (await gql(api, introspect))["data"]["__schema"]["queryType"]["name"] == "Query"
        page = await api.get("/graphql", headers=html)
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert (await api.get("/graphiql-assets/graphiql.min.js")).status_code == 200
    production = settings.model_copy(update={"introspection_enabled": False, "graphiql_enabled": False})
    async with client_for(production, services) as api:
        body = await gql(api, introspect)
        assert set(error_codes(body)) == {"BAD_INPUT"} and "introspection" in body["errors"][0]["message"].lower()
        page = await api.get("/graphql", headers=html)
        assert page.status_code != 200 and "graphiql" not in page.text.lower()
        assert (await api.get("/graphiql-assets/graphiql.min.js")).status_code == 404
        assert (await api.post("/graphql", json=QUERY)).status_code == 200


@pytest.fixture
async def strict_ws(mongo_server: EmbeddedMongo, settings: Settings) -> AsyncIterator[str]:
    strict = settings.model_copy(
        update={
            "instance_id": f"hardening-{uuid.uuid4().hex[:8]}",
            "run_worker": False,
            "ws_rate_limit_per_s": 0.5,
            "ws_rate_limit_burst": 2,
            "max_request_bytes": 4096,
            "ws_origins": ["https://app.bithedge.example"],
        }
    )
    async with serve_in_loop(strict, mongo_server.uri) as url:
        yield url


TIP = "subscription { chainTip { stacksHeight } }"


async def test_websocket_operations_are_rate_limited_per_connection(strict_ws: str) -> None:
    client = await GraphQLSocket.open(strict_ws, origin="https://app.bithedge.example")
    try:
        for op in ("1", "2", "3"):
            await client.subscribe(op, TIP)
        refused = await client.for_op("3")
        assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        for n in range(4, 8):  # keeps going after a whole burst of refusals: closed
            await client.subscribe(str(n), TIP)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await client.receive(within=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    finally:
        await client.close()


async def test_websocket_origins_are_checked(strict_ws: str) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        await connect(strict_ws, subprotocols=[TRANSPORT_WS], origin="https://evil.example")  # type: ignore[list-item, arg-type]
    assert rejected.value.response.status_code == 403


async def test_websocket_messages_above_the_limit_close_the_connection(strict_ws: str) -> None:
    big = await GraphQLSocket.open(strict_ws)  # no Origin: not a browser
    try:
        await big.ws.send(json.dumps({"id": "x", "type": "subscribe", "payload": {"query": TIP, "pad": "y" * 8000}}))
        with pytest.raises(ConnectionClosed) as too_big:
            await big.receive(within=5)
        assert too_big.value.rcvd is not None and too_big.value.rcvd.code == 1009
    finally:
        await big.close()


async def test_websocket_handshakes_spend_the_client_ips_http_tokens(
    mongo_server: EmbeddedMongo, settings: Settings
) -> None:
    """GraphQL WebSockets skip the HTTP middleware stack (policy_registry/app.py RegistryApp); the handshake still
    spends the same per-IP tokens as HTTP requests, and one over the limit is refused with 429."""
    limits = {"rate_limit_per_s": 0.01, "rate_limit_burst": 2}
    tight = settings.model_copy(
        update={"instance_id": f"handshakes-{uuid.uuid4().hex[:8]}", "run_worker": False, **limits}
    )
    async with serve_in_loop(tight, mongo_server.uri) as url:
        opened = [await GraphQLSocket.open(url) for _ in range(2)]
        try:
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, subprotocols=[TRANSPORT_WS])  # type: ignore[list-item]
            assert refused.value.response.status_code == 429
            assert json.loads(refused.value.response.body)["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            http_url = url.replace("ws://", "http://")
            async with httpx.AsyncClient() as http:
                assert (await http.post(http_url, json=QUERY)).status_code == 429  # one set of buckets
        finally:
            for client in opened:
                await client.close()


@pytest.mark.parametrize("compression", [False, True])
async def test_websocket_compression_is_negotiated_only_when_configured(
    mongo_server: EmbeddedMongo, settings: Settings, compression: bool
) -> None:
    live = settings.model_copy(
        update={"instance_id": f"deflate-{uuid.uuid4().hex[:8]}", "run_worker": False, "ws_compression": compression}
    )
    async with serve_in_loop(live, mongo_server.uri) as url:
        # The client offers permessage-deflate (websockets' default); the server accepts it only when configured.
        async with connect(url, subprotocols=[TRANSPORT_WS]) as ws:  # type: ignore[list-item]
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
    assert (extensions is not None and "permessage-deflate" in extensions) is compression
