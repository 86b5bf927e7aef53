"""Sign-in challenges cannot be evicted by others (docs/security.md "Hostile clients").

Challenges asked for an address by someone else never replace the wallet's own: creation is bounded per client IP
(AUTH_CHALLENGES_PER_CLIENT) and per address (AUTH_CHALLENGES_PER_ADDRESS), and over a bound the *new* request is
refused with QUOTA_EXCEEDED, fast, while every open challenge stays signable. Other clients are other loopback
addresses (127.0.0.2, …): the server sees each as its own peer IP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from services.chain.signing import sign_message
from tests.api.graphql_client import error_codes, gql
from tests.security.chain import Key
from tests.security.hostile import ServerInThread, run_hostile

ASK = "mutation($a: String!) { authChallenge(address: $a) { message } }"
AUTHENTICATE = """mutation($a: String!, $k: String!, $s: String!) {
  authenticate(address: $a, publicKey: $k, signature: $s) { token session { address } } }"""


@asynccontextmanager
async def client_from(target: ServerInThread, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=ip)
    async with httpx.AsyncClient(base_url=target.http_url, transport=transport, timeout=10) as client:
        yield client


async def ask(client: httpx.AsyncClient, address: str) -> dict[str, Any]:
    return await gql(client, ASK, {"a": address})


async def signs_in(client: httpx.AsyncClient, key: Key, message: str) -> None:
    body = await gql(
        client, AUTHENTICATE, {"a": key.address, "k": key.public_key, "s": sign_message(key.private_key, message)}
    )
    assert "errors" not in body, body
    assert body["data"]["authenticate"]["session"]["address"] == key.address


async def test_a_wallets_challenge_survives_a_flood_from_another_client(target: ServerInThread) -> None:
    wallet = Key.fresh()
    bound = 10  # AUTH_CHALLENGES_PER_CLIENT's default
    async with client_from(target, "127.0.0.1") as mine, client_from(target, "127.0.0.2") as attacker:
        message = (await ask(mine, wallet.address))["data"]["authChallenge"]["message"]
        for _ in range(bound):
            assert "errors" not in await ask(attacker, wallet.address)
        await attacker.post("/graphql", json={"query": "{ __typename }"})  # its connection is open before the clock
        for _ in range(20 - bound):  # 20 requests in all: the rest are refused, fast, and evict nothing
            outcome = await run_hostile(target, lambda: ask(attacker, wallet.address))
            assert error_codes(outcome.result) == ["QUOTA_EXCEEDED"], outcome.result
            extensions = outcome.result["errors"][0]["extensions"]
            assert extensions["limit"] == "challengesPerClient" and extensions["max"] == bound
            assert extensions["retryAfter"] > 0
        # the flood did not cost the attacker's bound for other addresses less: it is per client, whatever address
        assert error_codes(await ask(attacker, Key.fresh().address)) == ["QUOTA_EXCEEDED"]
        await signs_in(mine, wallet, message)


async def test_an_address_full_of_others_challenges_refuses_new_ones_and_keeps_its_own(
    target: ServerInThread,
) -> None:
    wallet = Key.fresh()
    async with client_from(target, "127.0.0.1") as mine:
        message = (await ask(mine, wallet.address))["data"]["authChallenge"]["message"]
        for ip in ("127.0.0.3", "127.0.0.4"):  # two attackers, each within its own bound: 1 + 2 x 10 > 20
            async with client_from(target, ip) as attacker:
                bodies = [await ask(attacker, wallet.address) for _ in range(10)]
        refused = [b for b in bodies if "errors" in b]
        assert len(refused) == 1 and error_codes(refused[0]) == ["QUOTA_EXCEEDED"]
        assert refused[0]["errors"][0]["extensions"]["limit"] == "challengesPerAddress"
        async with client_from(target, "127.0.0.5") as newcomer:
            outcome = await run_hostile(target, lambda: ask(newcomer, wallet.address))
            assert outcome.result["errors"][0]["extensions"]["max"] == 20
            assert "errors" not in await ask(newcomer, Key.fresh().address)  # other addresses are not affected
        await signs_in(mine, wallet, message)  # the wallet's own challenge is still there, and signs in once
        again = await gql(
            mine,
            AUTHENTICATE,
            {"a": wallet.address, "k": wallet.public_key, "s": sign_message(wallet.private_key, message)},
        )
        assert error_codes(again) == ["UNAUTHENTICATED"]
