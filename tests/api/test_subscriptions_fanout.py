"""Fan-out sharing (policy_registry/fanout.py): one execution and one encoding per change and operation, never
a payload for a subscriber that may not see it. Real WebSockets and SecantusDB, as tests/api/test_subscriptions_ws."""

from __future__ import annotations

import socket
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from datetime import timedelta
from typing import Any

import strawberry
from strawberry.types import ExecutionResult
from websockets.asyncio.client import connect

from policy_registry import fanout
from services.core.status import Cause, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.api.gql_ws import GRAPHQL_WS, TRANSPORT_WS, GraphQLSocket, wait_subscribers
from tests.api.sessions import open_session
from tests.factories import OWNER_A, OWNER_B, make_policy

S = StatusDetailed

BY_OWNER = "subscription($owner: String!) { policiesUpdated(owner: $owner) { id version statusDetailed quoteId } }"
BY_ID = "subscription($id: ID!) { policyUpdated(id: $id) { id version statusDetailed } }"
BY_ID_WIDER = "subscription($id: ID!) { policyUpdated(id: $id) { id version owner premiumUstx updatedAt } }"


def _since(before: fanout.FanoutStats) -> tuple[int, int, int]:
    now = fanout.stats
    return now.executed - before.executed, now.shared - before.shared, now.encoded - before.encoded


async def test_waiting_subscribers_get_each_change_from_the_publishers_loop_in_order(
    ws_url: str, repo: PolicyRepository
) -> None:
    policy = await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    first = await GraphQLSocket.open(ws_url)
    second = await GraphQLSocket.open(ws_url)
    legacy = await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS)
    subscribers = [(first, "a", BY_ID, "policyUpdated"), (first, "b", BY_OWNER, "policiesUpdated")]
    subscribers += [(second, "c", BY_ID, "policyUpdated"), (legacy, "d", BY_OWNER, "policiesUpdated")]
    try:
        for client, op_id, query, _ in subscribers:
            await client.subscribe(op_id, query, {"id": policy.id} if query is BY_ID else {"owner": policy.owner})
        await wait_subscribers(ws_url, 4)
        # a first change reaches every subscription, whichever way; a server task that has sent a message is back
        # waiting for the next change before the client can read it
        current = await repo.update_fields(policy, {"failure_reason": "warm-up"}, Cause.JOB)
        for client, op_id, _, field in subscribers:
            got = await client.next_data(op_id, field)
            # The insert is a change too: on a busy machine the change feed can publish it after the owner's
            # subscriptions registered (policyUpdated reads version 0 first and skips it). It comes before the warm-up.
            if got["version"] == policy.version and field == "policiesUpdated":
                got = await client.next_data(op_id, field)
            assert (got["id"], got["version"]) == (policy.id, current.version)
        before = replace(fanout.stats)
        versions = []
        for i in range(3):
            current = await repo.update_fields(current, {"failure_reason": f"change {i}"}, Cause.JOB)
            versions.append(current.version)
            for client, op_id, _, field in subscribers:
                got = await client.next_data(op_id, field)
                assert (got["id"], got["version"]) == (policy.id, current.version)
        # every delivery went from the publisher's loop to the socket: two operations, executed once per change
        assert fanout.stats.direct - before.direct == 4 * len(versions)
        assert _since(before) == (2 * len(versions), 2 * len(versions), 2 * len(versions))
        for client, *_ in subscribers:
            client.assert_nothing_held()
    finally:
        for client in (first, second, legacy):
            await client.close()


async def test_subscribers_of_one_operation_share_one_execution_and_encoding(
    ws_url: str, repo: PolicyRepository
) -> None:
    policy = await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    first = await GraphQLSocket.open(ws_url)
    second = await GraphQLSocket.open(ws_url)
    legacy = await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS)
    try:
        await first.subscribe("a", BY_ID, {"id": policy.id})
        await first.subscribe("wider", BY_ID_WIDER, {"id": policy.id})  # another operation: its own result
        await second.subscribe("b", BY_ID, {"id": policy.id})
        await legacy.subscribe("c", BY_ID, {"id": policy.id})
        await wait_subscribers(ws_url, 4)
        before = replace(fanout.stats)

        settling = await repo.transition(policy, S.Settling, Cause.REQUEST)
        got = [await first.next_data("a", "policyUpdated"), await second.next_data("b", "policyUpdated")]
        got.append(await legacy.next_data("c", "policyUpdated"))
        wider = await first.next_data("wider", "policyUpdated")

        expected = {"id": policy.id, "version": settling.version, "statusDetailed": "Settling"}
        assert got == [expected] * 3
        assert (wider["owner"], wider["version"]) == (policy.owner, settling.version)
        # two distinct operations: executed and encoded twice; the two other BY_ID subscribers reused the result
        assert _since(before) == (2, 2, 2)
    finally:
        for client in (first, second, legacy):
            await client.close()


async def test_a_private_payload_never_reaches_a_subscriber_of_the_same_operation_who_may_not_see_it(
    ws_url: str, repo: PolicyRepository, store: MongoStore
) -> None:
    owner = await GraphQLSocket.open(ws_url, payload={"token": await open_session(store, OWNER_A)})
    other = await GraphQLSocket.open(ws_url, payload={"token": await open_session(store, OWNER_B)})
    anonymous = await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS)
    try:
        for client in (other, anonymous, owner):  # same query text and variables for all three
            await client.subscribe("mine", BY_OWNER, {"owner": OWNER_A})
        await wait_subscribers(ws_url, 3)
        first = before = replace(fanout.stats)

        pending = await repo.insert(make_policy(owner=OWNER_A, quote_id="cd" * 16), Cause.REQUEST)
        got = await owner.next_data("mine", "policiesUpdated")
        assert (got["id"], got["statusDetailed"], got["quoteId"]) == (pending.id, "PendingCreation", "cd" * 16)
        assert _since(before) == (1, 0, 1)  # executed for the owner alone; nobody else reused it

        before = replace(fanout.stats)
        active = await repo.transition(pending, S.Active, Cause.CHAIN)  # public now: shared by all three
        for client in (owner, other, anonymous):
            # the others' first message: the private change never reached them
            got = await (
                client.next_data("mine", "policiesUpdated")
                if client is owner
                else client.marker_next("mine", "policiesUpdated", pending.id)
            )
            assert (got["id"], got["version"], got["statusDetailed"]) == (pending.id, active.version, "Active")
        assert _since(before) == (1, 2, 1)
        # and nothing was done for the others' copy of the private change after the check above either
        assert _since(first) == (2, 2, 2)
    finally:
        for client in (owner, other, anonymous):
            await client.close()


async def test_a_direct_write_that_meets_back_pressure_keeps_the_subscriptions_frames_in_order(
    ws_url: str, repo: PolicyRepository
) -> None:
    """A client that stops reading: the direct write that finds its socket full finishes in a task, later changes
    queue behind it (fewer than SUBSCRIPTION_MAX_PENDING here, so none is dropped), and once the client reads again
    it gets every change, each once, in commit order."""
    owner = OWNER_A
    fields = " ".join(f"a{i}: failureReason" for i in range(5))  # 5 x 64 KB of text per frame
    big = f"subscription($o: String!, $s: DateTime) {{ policiesUpdated(owner: $o, since: $s) {{ id {fields} }} }}"
    host, port = ws_url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    raw = await connect(ws_url, sock=sock, subprotocols=[TRANSPORT_WS], max_queue=1, ping_interval=None)  # type: ignore[list-item]
    stalled = GraphQLSocket(raw, TRANSPORT_WS, {})
    await raw.send('{"type": "connection_init", "payload": {}}')
    assert "connection_ack" in str(await raw.recv())
    try:
        marker = await repo.insert(make_policy(owner=owner, status_detailed=S.Active), Cause.CHAIN)
        since = (marker.updated_at - timedelta(milliseconds=1)).isoformat()
        await stalled.subscribe("s", big, {"o": owner, "s": since})
        assert (await stalled.next_data("s", "policiesUpdated"))["id"] == marker.id  # live, and parked again
        before = replace(fanout.stats)
        ids = []
        for _ in range(40):  # the client reads nothing meanwhile
            record = await repo.insert(
                make_policy(owner=owner, status_detailed=S.Active, failure_reason="x" * 65_536), Cause.CHAIN
            )
            ids.append(record.id)
        got = [(await stalled.next_data("s", "policiesUpdated", within=20))["id"] for _ in ids]
        assert got == ids
        assert fanout.stats.deferred > before.deferred  # the back-pressure path was taken
        assert fanout.stats.direct > before.direct
        stalled.assert_nothing_held()
    finally:
        await stalled.close()


# --- which operations may share: a small schema with a field that reads the context ------------------------


@strawberry.type
class _Item:
    name: str

    @strawberry.field
    def viewer(self, info: strawberry.Info) -> str:
        return str(info.context["who"])


_EVENT = _Item(name="one event, many subscribers")


@strawberry.type
class _Query:
    ok: bool = True


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def item(self) -> AsyncGenerator[_Item, None]:
        yield _EVENT


async def _first(schema: strawberry.Schema, query: str, who: str) -> dict[str, Any] | None:
    stream = await schema.subscribe(query, context_value={"who": who})
    assert not isinstance(stream, ExecutionResult), stream
    async with aclosing(stream):
        async for result in stream:
            assert not result.errors, result.errors
            return result.data
    return None


async def test_only_operations_that_cannot_see_the_context_share_a_result() -> None:
    schema = fanout.with_shared_events(
        lambda executor: strawberry.Schema(_Query, subscription=_Subscription, execution_context_class=executor)
    )

    before = replace(fanout.stats)
    plain = "subscription { item { name } }"
    assert await _first(schema, plain, "a") == await _first(schema, plain, "b") == {"item": {"name": _EVENT.name}}
    assert _since(before)[:2] == (1, 1)

    before = replace(fanout.stats)
    personal = "subscription { item { name viewer } }"
    assert (await _first(schema, personal, "a"), await _first(schema, personal, "b")) == (
        {"item": {"name": _EVENT.name, "viewer": "a"}},
        {"item": {"name": _EVENT.name, "viewer": "b"}},
    )
    assert _since(before)[:2] == (0, 0)  # executed the ordinary way, per subscriber
