"""Helpers of the hostile-client tests that need the chain: the app wired to the devnet (in-process, or served from
a thread for /healthz polling), sign-in with any key, and a loopback Stacks API in front of the devnet whose
`/v2/accounts` answers are chosen by the test."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import coincurve
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from policy_registry.app import create_app
from policy_registry.container import Services
from policy_registry.settings import Settings
from services.chain.c32 import AddressVersion, address_from_public_key
from services.chain.signing import sign_message
from tests.api.graphql_client import gql
from tests.fixtures.devnet import DevnetFixture

HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass(frozen=True)
class Key:
    """A wallet key of the test's own: fresh ones hold no STX on the devnet."""

    private_key: bytes
    public_key: str
    address: str

    @classmethod
    def fresh(cls) -> Key:
        key = coincurve.PrivateKey()
        public = key.public_key.format(compressed=True)
        return cls(key.secret, public.hex(), address_from_public_key(public, AddressVersion.TESTNET_SINGLE_SIG))

    @classmethod
    def of(cls, devnet: DevnetFixture, wallet: str) -> Key:
        account = devnet.accounts[wallet]
        return cls(bytes.fromhex(account.private_key[:64]), account.public_key, account.address)


def chain_settings(devnet: DevnetFixture, db_name: str, stacks_api_url: str | None = None, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        mongodb_database=db_name,
        stacks_api_url=stacks_api_url or devnet.url,
        quote_key=devnet.quote_private_key.hex(),
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
        run_worker=False,
        rate_limit_per_s=0.0,
        **extra,
    )


async def ready_services(settings: Settings, mongodb_uri: str, devnet: DevnetFixture) -> Services:
    """Services with fresh prices and the vault's tiers mirrored (what the worker would have done)."""
    services = await Services.create(settings, mongodb_uri)
    assert services.local_prices is not None and services.chain is not None
    await services.local_prices.load()
    await services.oracle.refresh()
    await services.liquidity.sync_from_chain(services.chain, devnet.vault)
    return services


@asynccontextmanager
async def chain_client(
    settings: Settings, mongodb_uri: str, devnet: DevnetFixture
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The whole app on the devnet, in-process; its database is dropped afterwards."""
    services = await ready_services(settings, mongodb_uri, devnet)
    app = create_app(settings, mongodb_uri, services=services)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client, services
    finally:
        await services.store.client.drop_database(settings.mongodb_database)
        await services.close()


async def sign_in(client: httpx.AsyncClient, key: Key) -> dict[str, str]:
    ask = "mutation($a: String!) { authChallenge(address: $a) { message } }"
    challenge = await gql(client, ask, {"a": key.address})
    message = challenge["data"]["authChallenge"]["message"]
    body = await gql(
        client,
        "mutation($a: String!, $k: String!, $s: String!) { authenticate(address: $a, publicKey: $k, signature: $s) "
        "{ token } }",
        {"a": key.address, "k": key.public_key, "s": sign_message(key.private_key, message)},
    )
    return {"authorization": f"Bearer {body['data']['authenticate']['token']}"}


@dataclass
class AccountsProxy:
    """Forwards every request to the devnet, except `/v2/accounts/…`: answered with `status` (503: the API is down)
    or, with `balance` set, with that balance (the devnet's nonce kept). `account_reads` counts those requests."""

    upstream: str
    status: int = 200
    balance: int | None = None
    account_reads: int = 0
    url: str = ""

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        async with httpx.AsyncClient(base_url=self.upstream, timeout=10) as upstream:
            answer = await upstream.request(
                request.method,
                path,
                params=request.query_params,
                content=await request.body(),
                headers={k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS | {"host"}},
            )
        if path.startswith("/v2/accounts/"):
            self.account_reads += 1
            if self.status != 200:
                return JSONResponse({"error": "unavailable"}, status_code=self.status)
            if self.balance is not None:
                return JSONResponse({**answer.json(), "balance": hex(self.balance)})
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
        return Response(answer.content, status_code=answer.status_code, headers=headers)


@asynccontextmanager
async def accounts_proxy(upstream: str) -> AsyncIterator[AccountsProxy]:
    """An `AccountsProxy` served by uvicorn on a loopback socket, inside the test's loop."""
    proxy = AccountsProxy(upstream)
    app = Starlette(routes=[Route("/{path:path}", proxy.handle, methods=["GET", "POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    proxy.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 20
    while not server.started:  # polling interval of a start-up wait with a deadline, not a stand-in for a signal
        assert not task.done() and time.monotonic() < deadline, "the accounts proxy did not start"
        await asyncio.sleep(0.01)
    try:
        yield proxy
    finally:
        server.should_exit = True
        await task
        sock.close()
