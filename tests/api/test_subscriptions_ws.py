"""Subscriptions over real WebSockets (uvicorn in the test's loop, both protocols) on SecantusDB."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from services.core.clock import now_utc
from services.core.status import Cause, StatusDetailed
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.api.gql_ws import GRAPHQL_WS, GraphQLSocket, wait_subscribers
from tests.api.sessions import open_session, revoke
from tests.factories import OWNER_A, OWNER_B, make_policy

S = StatusDetailed

POLICY_UPDATED = """subscription($id: ID!, $since: Int) {
  policyUpdated(id: $id, sinceVersion: $since) { id version statusDetailed owner quoteId }
}"""
POLICIES_UPDATED = """subscription($owner: String!, $since: DateTime) {
  policiesUpdated(owner: $owner, since: $since) { id version statusDetailed updatedAt }
}"""
CHAIN_TIP = "subscription { chainTip { stacksHeight burnHeight blockHash } }"


async def test_policy_updated_sends_new_versions_and_catches_up_from_since_version(
    ws_url: str, repo: PolicyRepository
) -> None:
    policy = await repo.insert(make_policy(status_detailed=S.Active), Cause.CHAIN)
    client = await GraphQLSocket.open(ws_url)
    try:
        await client.subscribe("live", POLICY_UPDATED, {"id": policy.id})
        await wait_subscribers(ws_url, 1)
        # no sinceVersion: only what changes from now on (a message of version 0 would come first)
        settling = await repo.transition(policy, S.Settling, Cause.REQUEST)
        got = await client.next_data("live", "policyUpdated")
        assert (got["id"], got["version"], got["statusDetailed"]) == (policy.id, 1, "Settling")

        await client.subscribe("behind", POLICY_UPDATED, {"id": policy.id, "since": 0})
        assert (await client.next_data("behind", "policyUpdated"))["version"] == 1  # the current one, at once
        await client.subscribe("current", POLICY_UPDATED, {"id": policy.id, "since": 1})
        await wait_subscribers(ws_url, 3)  # "current" is up to date: no catch-up (it would be counted below)

        await repo.transition(settling, S.FailedSettlement, Cause.MONITOR)
        versions = {}
        for _ in range(3):
            message = await client.receive()
            versions[message["id"]] = message["payload"]["data"]["policyUpdated"]["version"]
        assert versions == {"live": 2, "behind": 2, "current": 2}
    finally:
        await client.close()


async def test_graphql_ws_protocol_streams_an_owners_policies(ws_url: str, repo: PolicyRepository) -> None:
    client = await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS)
    try:
        await client.subscribe("1", POLICIES_UPDATED, {"owner": OWNER_A})
        await wait_subscribers(ws_url, 1)
        mine = await repo.insert(make_policy(owner=OWNER_A, status_detailed=S.Active), Cause.CHAIN)
        await repo.insert(make_policy(owner=OWNER_B, status_detailed=S.Active), Cause.CHAIN)
        got = await client.next_data("1", "policiesUpdated")
        assert (got["id"], got["version"]) == (mine.id, 0)
        marker = await repo.insert(make_policy(owner=OWNER_A, status_detailed=S.Active), Cause.CHAIN)
        await client.marker_next("1", "policiesUpdated", marker.id)  # OWNER_B's policy is not OWNER_A's
    finally:
        await client.close()


async def test_pending_creations_go_to_their_signed_in_owner_only(
    ws_url: str, repo: PolicyRepository, store: MongoStore
) -> None:
    owner_token = await open_session(store, OWNER_A)
    other_token = await open_session(store, OWNER_B)
    owner = await GraphQLSocket.open(ws_url, payload={"authorization": f"Bearer {owner_token}"})
    other = await GraphQLSocket.open(ws_url, protocol=GRAPHQL_WS, payload={"token": other_token})
    anonymous = await GraphQLSocket.open(ws_url)
    assert owner.ack.get("payload", {}).get("address") == OWNER_A
    try:
        for client in (owner, other, anonymous):
            await client.subscribe("mine", POLICIES_UPDATED, {"owner": OWNER_A})
        await wait_subscribers(ws_url, 3)
        pending = await repo.insert(make_policy(owner=OWNER_A, quote_id="ab" * 16), Cause.REQUEST)
        got = await owner.next_data("mine", "policiesUpdated")
        assert (got["id"], got["statusDetailed"]) == (pending.id, "PendingCreation")
        # `other` and `anonymous` never see it: their next message is the later public change (below)

        await anonymous.subscribe("one", POLICY_UPDATED, {"id": pending.id})
        refused = await anonymous.next_payload("one")
        assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        await anonymous.completed("one")
        await owner.subscribe("one", POLICY_UPDATED, {"id": pending.id, "since": -1})
        assert (await owner.next_data("one", "policyUpdated"))["quoteId"] == "ab" * 16

        active = await repo.transition(pending, S.Active, Cause.CHAIN)  # on chain now: public
        for client in (owner, other, anonymous):
            if client is owner:
                got = await client.next_data("mine", "policiesUpdated")
            else:  # their first message since the private change: it never reached them
                got = await client.marker_next("mine", "policiesUpdated", pending.id)
            assert (got["id"], got["version"], got["statusDetailed"]) == (pending.id, active.version, "Active")
        assert (await owner.next_data("one", "policyUpdated"))["version"] == active.version

        await revoke(store, owner_token)  # signed out: private updates stop on the open subscription too
        await repo.insert(make_policy(owner=OWNER_A), Cause.REQUEST)
        public = await repo.insert(make_policy(owner=OWNER_A, status_detailed=S.Active), Cause.CHAIN)
        await owner.marker_next("mine", "policiesUpdated", public.id)  # the private one never came
    finally:
        for client in (owner, other, anonymous):
            await client.close()


async def test_policies_updated_since_replays_newer_changes_first(ws_url: str, repo: PolicyRepository) -> None:
    start = now_utc() - timedelta(seconds=2)  # explicit times: `newer` is strictly newer, without waiting
    old = await repo.insert(make_policy(owner=OWNER_A, status_detailed=S.Active, updated_at=start), Cause.CHAIN)
    newer = await repo.insert(
        make_policy(owner=OWNER_A, status_detailed=S.Active, updated_at=start + timedelta(seconds=1)), Cause.CHAIN
    )
    changed = await repo.transition(old, S.Settling, Cause.REQUEST)
    client = await GraphQLSocket.open(ws_url)
    try:
        await client.subscribe("s", POLICIES_UPDATED, {"owner": OWNER_A, "since": old.updated_at.isoformat()})
        first = await client.next_data("s", "policiesUpdated")
        second = await client.next_data("s", "policiesUpdated")
        assert [(first["id"], first["version"]), (second["id"], second["version"])] == [
            (newer.id, 0),
            (old.id, changed.version),
        ]
        latest = await repo.transition(changed, S.FailedSettlement, Cause.MONITOR)
        # the replay held exactly those two: the next message is this later change
        assert (await client.marker_next("s", "policiesUpdated", old.id))["version"] == latest.version

        later = (now_utc() + timedelta(minutes=1)).isoformat()
        await client.subscribe("none", POLICIES_UPDATED, {"owner": OWNER_A, "since": later})
        await client.subscribe("bad", POLICIES_UPDATED, {"owner": "not-an-address"})
        refused = await client.next_payload("bad")
        assert refused["errors"][0]["extensions"]["code"] == "BAD_INPUT"
        await client.completed("bad")
        # "none" replays nothing (its `since` is ahead): its first message is a change made now
        await wait_subscribers(ws_url, 2)
        marker = await repo.insert(make_policy(owner=OWNER_A, status_detailed=S.Active), Cause.CHAIN)
        for op in ("none", "s"):
            assert (await client.next_data(op, "policiesUpdated"))["id"] == marker.id
        client.assert_nothing_held()
    finally:
        await client.close()


async def test_chain_tip_waits_for_the_listener_and_sends_only_moves(ws_url: str, store: MongoStore) -> None:
    client = await GraphQLSocket.open(ws_url)
    try:
        await client.subscribe("tip", CHAIN_TIP)
        await wait_subscribers(ws_url, 1)  # no tip written yet: nothing to say (the first message is tip 7)

        async def write_tip(height: int) -> None:
            await store.db.chain_state.update_one(
                {"_id": "tip"},
                {
                    "$set": {
                        "stacks_height": height,
                        "burn_height": height + 100,
                        "block_hash": f"0x{height:064x}",
                        "updated_at": now_utc(),
                    }
                },
                upsert=True,
            )

        await write_tip(7)
        assert await client.next_data("tip", "chainTip") == {
            "stacksHeight": 7,
            "burnHeight": 107,
            "blockHash": f"0x{7:064x}",
        }
        await write_tip(7)  # the listener rewrites the same tip every poll
        await write_tip(8)
        assert (await client.next_data("tip", "chainTip"))["stacksHeight"] == 8  # the rewrite sent nothing

        await client.subscribe("again", CHAIN_TIP)
        assert (await client.next_data("again", "chainTip"))["stacksHeight"] == 8  # the current tip first
    finally:
        await client.close()


async def test_unexpected_errors_in_subscriptions_are_masked_with_a_request_id(
    ws_url: str, repo: PolicyRepository, store: MongoStore, caplog: pytest.LogCaptureFixture
) -> None:
    # A stored value the API cannot represent (an on-chain id beyond GraphQL's 32-bit Int) stands for a bug.
    broken = await repo.insert(make_policy(status_detailed=S.Active, policy_id_onchain=2**40), Cause.CHAIN)
    # A document the service cannot read at all (written by hand, say) in the owner's catch-up.
    await store.db.policies.insert_one({"owner": OWNER_B, "updated_at": now_utc(), "status_detailed": "Active"})
    client = await GraphQLSocket.open(ws_url, additional_headers={"x-request-id": "req-sub-42"})
    try:
        with caplog.at_level(logging.ERROR, logger="policy_registry.graphql"):
            await client.subscribe(
                "1",
                "subscription($id: ID!) { policyUpdated(id: $id, sinceVersion: -1) { policyIdOnChain } }",
                {"id": broken.id},
            )
            masked = await client.next_payload("1")
            await client.subscribe("2", POLICIES_UPDATED, {"owner": OWNER_B, "since": "2020-01-01T00:00:00Z"})
            unreadable = await client.next_payload("2")
        for payload in (masked, unreadable):
            [error] = payload["errors"]
            assert error["message"] == "Internal server error", error
            assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-sub-42"}
        assert caplog.text.count("req-sub-42") >= 2 and "Traceback" in caplog.text

        await client.subscribe("3", POLICY_UPDATED, {"id": "not-an-id"})
        assert (await client.next_payload("3"))["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    finally:
        await client.close()
