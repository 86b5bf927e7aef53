"""Live updates across replicas: two `policy-registry serve` processes on one database, real WebSockets.

Process B runs the worker (its chain listener follows a scripted Hiro API on loopback); process A serves the API
only. A separate writer in this test process stands for a job writing through PolicyRepository.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from policy_registry.embedded.secantus import EmbeddedMongo
from services.core.clock import now_utc
from services.core.models import RiskTier
from services.core.status import Cause, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.api.gql_ws import GRAPHQL_WS, TRANSPORT_WS, GraphQLSocket
from tests.api.live import ApiProcess
from tests.factories import make_policy
from tests.services.auth.wallet import KEY_1, needs_node, wallet_sign
from tests.services.listener.fake_chain import REGISTRY, VAULT, FakeChain, PolicyTerms, creation_tx, deposit_tx
from tests.services.listener.fake_chain import run_fake_chain as _run_fake_chain

pytestmark = needs_node
S = StatusDetailed

POLICY_UPDATED = """subscription($id: ID!, $since: Int) {
  policyUpdated(id: $id, sinceVersion: $since) { id version statusDetailed }
}"""
POLICIES_UPDATED = """subscription($owner: String!, $since: DateTime) {
  policiesUpdated(owner: $owner, since: $since) { id version statusDetailed }
}"""
TOKENS: list[str] = []  # every session token the tests saw: none may appear in the servers' logs


@pytest.fixture(scope="module")
def chain() -> Iterator[FakeChain]:
    yield from _run_fake_chain(FakeChain())


@pytest.fixture(scope="module")
def replicas(
    mongo_server: EmbeddedMongo, chain: FakeChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiProcess, ApiProcess]]:
    logs = Path(tmp_path_factory.mktemp("replicas"))
    common = {
        "MONGODB_URI": mongo_server.uri,
        "MONGODB_DATABASE": f"replicas_{uuid.uuid4().hex[:8]}",
        "STACKS_API_URL": chain.base_url,
        "REGISTRY_CONTRACT_ID": REGISTRY,
        "VAULT_CONTRACT_ID": VAULT,
        "CHAIN_CONFIRMATIONS": "1",
        "LISTENER_POLL_INTERVAL_S": "0.2",
        "TX_MONITOR_INTERVAL_S": "3600",
        "RECONCILE_INTERVAL_S": "3600",
        "DEMO_DATA": "false",
        "RATE_LIMIT_PER_S": "0",
        "WS_RATE_LIMIT_PER_S": "0",
        "SUBSCRIPTION_MAX_PENDING": "20",
        "LOG_LEVEL": "DEBUG",
    }
    a = ApiProcess("api-a", {**common, "INSTANCE_ID": "api-a", "RUN_WORKER": "false"}, logs)
    b = ApiProcess("api-b", {**common, "INSTANCE_ID": "api-b", "RUN_WORKER": "true"}, logs)
    for process in (a, b):
        process.launch()
    try:
        yield a.wait_ready(), b.wait_ready()
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def writer(mongo_server: EmbeddedMongo, replicas: tuple[ApiProcess, ApiProcess]) -> AsyncIterator[MongoStore]:
    store = MongoStore(mongo_server.uri, replicas[0].env["MONGODB_DATABASE"], timeout_ms=3000)
    yield store
    await store.close()


async def sign_in(process: ApiProcess, key: str) -> tuple[str, str]:
    """A real wallet sign-in on `process`; (address, token)."""
    [me] = wallet_sign(("-", key, "testnet"))
    async with httpx.AsyncClient(base_url=process.http_url) as api:
        challenge = await api.post(
            "/graphql",
            json={
                "query": "mutation($a: String!) { authChallenge(address: $a) { message } }",
                "variables": {"a": me.address},
            },
        )
        [signed] = wallet_sign((challenge.json()["data"]["authChallenge"]["message"], key, "testnet"))
        answer = await api.post(
            "/graphql",
            json={
                "query": "mutation($a: String!, $k: String!, $s: String!) { authenticate(address: $a, publicKey: $k, "
                "signature: $s) { token } }",
                "variables": {"a": me.address, "k": signed.public_key, "s": signed.signature},
            },
        )
    token: str = answer.json()["data"]["authenticate"]["token"]
    TOKENS.append(token)
    return me.address, token


async def test_changes_from_another_process_and_from_a_job_reach_subscribers_on_every_replica(
    replicas: tuple[ApiProcess, ApiProcess], chain: FakeChain, writer: MongoStore
) -> None:
    a, b = replicas
    owner, token = await sign_in(a, KEY_1)
    terms = PolicyTerms(policy_id=1, quote_id=os.urandom(16), owner=owner)
    repo = PolicyRepository(writer)

    mine_on_a = await GraphQLSocket.open(a.ws_url, payload={"authorization": f"Bearer {token}"})
    public_on_a = await GraphQLSocket.open(a.ws_url)
    tip_on_a = await GraphQLSocket.open(a.ws_url)
    mine_on_b = await GraphQLSocket.open(b.ws_url, protocol=GRAPHQL_WS, payload={"token": token})  # shared sessions
    try:
        # live once each has replayed a change made just before it (a subscription registers before it replays)
        marker = await repo.insert(make_policy(owner=owner, status_detailed=S.Active), Cause.CHAIN)
        since = {"owner": owner, "since": (marker.updated_at - timedelta(milliseconds=1)).isoformat()}
        await mine_on_a.subscribe("mine", POLICIES_UPDATED, since)
        await public_on_a.subscribe("public", POLICIES_UPDATED, since)
        for client, op in ((mine_on_a, "mine"), (public_on_a, "public")):
            assert (await client.next_data(op, "policiesUpdated"))["id"] == marker.id
        # (the tip subscription needs no wait: it sends the current tip when it registers, then each move)
        await tip_on_a.subscribe("tip", "subscription { chainTip { stacksHeight burnHeight } }")

        # 1. a job stands in for the creation flow: PendingCreation, private to its owner
        pending = await repo.insert(
            make_policy(
                owner=owner,
                protected_value_usd8=terms.strike,
                protected_amount_sats=terms.amount,
                expiration_height=terms.expiration,
                risk_tier=RiskTier.Balanced,
                premium_ustx=terms.premium,
                collateral_ustx=terms.collateral,
                counterparty=VAULT,
                quote_id=terms.quote_id.hex(),
                quote_expiry_height=10_000,
            ),
            Cause.REQUEST,
        )
        await writer.db.reservations.insert_one(
            {
                "_id": terms.quote_id.hex(),
                "tier": "Balanced",
                "amount_ustx": terms.collateral,
                "policy_id": pending.id,
                "owner": owner,
                "expires_burn_height": 10_000,
                "status": "held",
                "created_at": now_utc(),
                "updated_at": now_utc(),
                "reason": None,
            }
        )
        got = await mine_on_a.next_data("mine", "policiesUpdated")
        assert (got["id"], got["version"], got["statusDetailed"]) == (pending.id, 0, "PendingCreation")
        await mine_on_b.subscribe("one", POLICY_UPDATED, {"id": pending.id, "since": 0})

        # 2. process B's chain listener confirms the creation (A runs no worker)
        chain.mine([deposit_tx("Balanced", 1_000_000_000, 1_000_000_000, 1_000_000_000, "r1")])
        chain.mine([creation_tx(terms, tier_locked=terms.collateral, tier_capital=1_000_000_000)])
        chain.burn()
        for client, op, field in (
            (mine_on_a, "mine", "policiesUpdated"),
            (public_on_a, "public", "policiesUpdated"),  # public from now on: its first message
            (mine_on_b, "one", "policyUpdated"),
        ):
            got = await client.next_data(op, field, within=15)
            assert (got["id"], got["version"], got["statusDetailed"]) == (pending.id, 1, "Active"), (op, got)
        async with httpx.AsyncClient(base_url=a.http_url) as api:
            history = await api.post("/graphql", json={"query": f'{{ policyHistory(id: "{pending.id}") {{ cause }} }}'})
        assert [e["cause"] for e in history.json()["data"]["policyHistory"]] == ["request", "chain"]
        tips = [await tip_on_a.next_data("tip", "chainTip", within=10)]
        while tips[-1]["stacksHeight"] < chain.tip.height:
            tips.append(await tip_on_a.next_data("tip", "chainTip", within=10))
        assert tips[-1] == {"stacksHeight": chain.tip.height, "burnHeight": chain.tip.burn_height}

        # 3. the owner asks for settlement (written here as the API would): everyone hears it, wherever connected
        active = await repo.require(pending.id)
        settling = await repo.transition(active, S.Settling, Cause.REQUEST)
        for client, op, field in (
            (mine_on_a, "mine", "policiesUpdated"),
            (public_on_a, "public", "policiesUpdated"),
            (mine_on_b, "one", "policyUpdated"),
        ):
            got = await client.next_data(op, field, within=5)
            assert (got["version"], got["statusDetailed"]) == (settling.version, "Settling")
    finally:
        for client in (mine_on_a, public_on_a, tip_on_a, mine_on_b):
            await client.close()


async def test_a_reconnecting_subscriber_misses_nothing(
    replicas: tuple[ApiProcess, ApiProcess], writer: MongoStore
) -> None:
    a, b = replicas
    repo = PolicyRepository(writer)
    owner = "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG"
    policy = await repo.insert(make_policy(owner=owner, status_detailed=S.Active), Cause.CHAIN)
    first = await GraphQLSocket.open(a.ws_url)
    await first.subscribe("p", POLICY_UPDATED, {"id": policy.id, "since": -1})
    assert (await first.next_data("p", "policyUpdated"))["version"] == 0  # the current one: it is live
    v1 = await repo.transition(policy, S.Settling, Cause.REQUEST)
    seen = await first.next_data("p", "policyUpdated")
    assert seen["version"] == v1.version
    await first.close()  # the client goes away (network change, laptop lid, deploy of A)

    v2 = await repo.transition(v1, S.FailedSettlement, Cause.MONITOR)
    v3 = await repo.transition(v2, S.Settling, Cause.OPERATOR)

    back = await GraphQLSocket.open(b.ws_url)  # and comes back through another replica
    by_owner = await GraphQLSocket.open(a.ws_url, protocol=GRAPHQL_WS)
    try:
        await back.subscribe("p", POLICY_UPDATED, {"id": policy.id, "since": seen["version"]})
        got = await back.next_data("p", "policyUpdated")
        assert (got["version"], got["statusDetailed"]) == (v3.version, "Settling")  # the latest, at once
        await by_owner.subscribe("o", POLICIES_UPDATED, {"owner": owner, "since": v1.updated_at.isoformat()})
        assert (await by_owner.next_data("o", "policiesUpdated"))["version"] == v3.version
        v4 = await repo.transition(v3, S.FailedSettlement, Cause.MONITOR)
        assert (await back.next_data("p", "policyUpdated"))["version"] == v4.version
        assert (await by_owner.next_data("o", "policiesUpdated"))["version"] == v4.version
        v5 = await repo.transition(v4, S.Settling, Cause.OPERATOR)
        assert (await back.marker_next("p", "policyUpdated", policy.id))["version"] == v5.version  # v4 came once
    finally:
        await back.close()
        await by_owner.close()


async def test_two_hundred_subscribers_receive_each_change_once_and_in_order(
    replicas: tuple[ApiProcess, ApiProcess], writer: MongoStore
) -> None:
    repo = PolicyRepository(writer)
    policy = await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    urls = [replicas[i % 2].ws_url for i in range(200)]
    clients = await asyncio.gather(*(GraphQLSocket.open(url) for url in urls))
    received: list[list[int]] = [[] for _ in clients]
    try:
        # sinceVersion -1: each first gets the current version, which says it is live
        await asyncio.gather(*(c.subscribe("p", POLICY_UPDATED, {"id": policy.id, "since": -1}) for c in clients))

        async def collect(i: int) -> None:
            got = await clients[i].next_data("p", "policyUpdated", within=10)
            received[i].append(got["version"])

        await asyncio.gather(*(collect(i) for i in range(len(clients))))
        assert all(versions == [0] for versions in received), received
        received = [[] for _ in clients]

        current = policy
        latencies = []
        for target, cause in (
            (S.Settling, Cause.REQUEST),
            (S.FailedSettlement, Cause.MONITOR),
            (S.Settling, Cause.OPERATOR),
        ):
            started = time.monotonic()
            current = await repo.transition(current, target, cause)
            await asyncio.gather(*(collect(i) for i in range(len(clients))))
            latencies.append(time.monotonic() - started)
        assert all(versions == [1, 2, 3] for versions in received), received
        marker = await repo.transition(current, S.FailedSettlement, Cause.MONITOR)
        # exactly once: the next message of each is this later change
        finals = await asyncio.gather(*(c.marker_next("p", "policyUpdated", policy.id, within=10) for c in clients))
        assert {f["version"] for f in finals} == {marker.version}
        assert max(latencies) < 5, latencies
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_a_stalled_subscriber_does_not_delay_the_others(
    replicas: tuple[ApiProcess, ApiProcess], writer: MongoStore
) -> None:
    a, _ = replicas
    repo = PolicyRepository(writer)
    owner = "ST3AM1A56AK2C1XAFJ4115ZSV26EB49BVQ10MGCS0"
    # Big messages (5 x 64 KB of text each), so a client that stops reading fills the socket buffers after a few
    # dozen and the server's sends to it really block.
    fields = " ".join(f"a{i}: failureReason" for i in range(5))
    big = (
        f"subscription($o: String!, $s: DateTime) {{ policiesUpdated(owner: $o, since: $s) {{ id version {fields} }} }}"
    )
    padding = "x" * 65_536

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", a.port))
    stalled_ws = await connect(  # no compression: the padding must really take room in the buffers
        a.ws_url, sock=sock, subprotocols=[Subprotocol(TRANSPORT_WS)], max_queue=1, ping_interval=None, compression=None
    )
    stalled = GraphQLSocket(stalled_ws, TRANSPORT_WS, {})
    await stalled_ws.send('{"type": "connection_init", "payload": {}}')
    assert "connection_ack" in str(await stalled_ws.recv())
    healthy = await GraphQLSocket.open(a.ws_url)
    try:
        # both are live once each has replayed a change made just before it
        marker = await repo.insert(make_policy(owner=owner, status_detailed=S.Active), Cause.CHAIN)
        since = {"o": owner, "s": (marker.updated_at - timedelta(milliseconds=1)).isoformat()}
        await stalled.subscribe("s", big, since)
        # The healthy client reads the same changes without the padding: 60 frames of 320 KB each would make it
        # a slow consumer in its own right now that frames go uncompressed (WS_COMPRESSION is off by default).
        small = "subscription($o: String!, $s: DateTime) { policiesUpdated(owner: $o, since: $s) { id version } }"
        await healthy.subscribe("h", small, since)
        for client, op in ((stalled, "s"), (healthy, "h")):
            assert (await client.next_data(op, "policiesUpdated"))["id"] == marker.id
        count = 60
        ids = []
        for _ in range(count):
            record = await repo.insert(
                make_policy(owner=owner, status_detailed=S.Active, failure_reason=padding),
                Cause.CHAIN,
            )
            ids.append(record.id)
        written = time.monotonic()
        got = [(await healthy.next_data("h", "policiesUpdated", within=10))["id"] for _ in range(count)]
        assert got == ids  # every change, in commit order, while the other client reads nothing
        assert time.monotonic() - written < 5, "the healthy subscriber was held back"

        # The stalled client fell more than SUBSCRIPTION_MAX_PENDING behind: once it reads again it finds what
        # had been sent before it stalled, then the SLOW_CONSUMER error and the end of its subscription.
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["type"] != "complete":
            try:
                messages.append(await stalled.receive(within=10))
            except TimeoutError:
                raise AssertionError(f"stalled client got {len(messages)} messages, no end") from None
        assert 0 < len(messages) - 2 < count
        error = messages[-2]["payload"]["errors"][0]
        assert error["extensions"]["code"] == "SLOW_CONSUMER", error
    finally:
        await stalled.close()
        await healthy.close()


def test_no_session_token_in_any_log_line(replicas: tuple[ApiProcess, ApiProcess]) -> None:
    assert TOKENS, "the tests above signed in"
    for process in replicas:
        log = process.log_text()
        assert "signed in" in log or process.name == "api-b"
        for token in TOKENS:
            assert token not in log, process.name
