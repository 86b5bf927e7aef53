"""StacksApiClient against a real HTTP server on loopback answering Hiro-shaped payloads."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import AsyncIterator

import pytest

from services.chain.api_client import RetryPolicy, StacksApiClient
from services.chain.clarity import (
    ClarityBool,
    ClarityErr,
    ClarityOk,
    ClarityUInt,
    principal_cv,
    to_hex,
    to_python,
    uint_cv,
)
from services.chain.errors import (
    BadNonce,
    BroadcastRejected,
    ChainNotFound,
    ChainProtocolError,
    ConflictingNonceInMempool,
    ContractAlreadyExists,
    CursorNotFound,
    Deserialization,
    FeeTooLow,
    NoSuchContract,
    NoSuchPublicFunction,
    NotEnoughFunds,
    ReadOnlyCallError,
    SignatureValidation,
    StacksApiUnavailable,
    TooMuchChaining,
)

from . import hiro_payloads as p
from .hiro_server import FakeHiro, Reply

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.03, max_retry_after=2.0)
API_KEY = "hiro-key-abc123"


@pytest.fixture
async def client(hiro: FakeHiro) -> AsyncIterator[StacksApiClient]:
    c = StacksApiClient(hiro.base_url, api_key=API_KEY, timeout=2.0, retry=FAST)
    yield c
    await c.aclose()


async def test_tip_info_block_account(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", "/extended", Reply(body=p.api_status()))
    hiro.on("GET", "/v2/info", Reply(body=p.node_info()))
    hiro.on("GET", "/extended/v2/blocks/1234560", Reply(body=p.block()))
    hiro.on("GET", f"/extended/v2/blocks/{p.BLOCK_HASH}", Reply(body=p.block(canonical=False)))
    hiro.on("GET", f"/v2/accounts/{p.OWNER}", Reply(body={"balance": "0x0000000000000000000000003b9aca00",
                                                           "locked": "0x00000000000000000000000000000000",
                                                           "unlock_height": 0, "nonce": 12}))  # fmt: skip
    tip = await client.get_tip()
    assert (tip.block_height, tip.burn_block_height, tip.block_hash) == (1_234_567, 880_123, p.BLOCK_HASH)
    info = await client.get_node_info()
    assert (info.stacks_tip_height, info.burn_block_height, info.network_id) == (1_234_567, 880_123, 1)
    blk = await client.get_block(1_234_560)
    assert blk.canonical and blk.burn_block_height == 880_120 and blk.height == 1_234_560
    assert not (await client.get_block(p.BLOCK_HASH)).canonical
    account = await client.get_account(p.OWNER)
    assert (account.balance, account.locked, account.nonce) == (1_000_000_000, 0, 12)
    assert hiro.requests_to(f"/v2/accounts/{p.OWNER}")[0].query == {"proof": "0"}
    assert all(s.headers.get("x-api-key") == API_KEY for s in hiro.seen)


async def test_transaction_states(hiro: FakeHiro, client: StacksApiClient) -> None:
    path = f"/extended/v1/tx/{p.TXID}"
    hiro.on("GET", path, Reply(body=p.transaction("success", "0x0703")))
    tx = await client.get_transaction(p.TXID.removeprefix("0x").upper())
    assert tx.tx_status == "success" and tx.block_height == 1_234_560 and tx.canonical is True
    assert tx.result == ClarityOk(ClarityBool(True))
    hiro.on("GET", path, Reply(body=p.transaction("pending")))
    pending = await client.get_transaction(p.TXID)
    assert pending.is_pending and pending.block_height is None and pending.result is None
    hiro.on("GET", path, Reply(404, {"error": f"could not find transaction by ID {p.TXID}"}))
    with pytest.raises(ChainNotFound):
        await client.get_transaction(p.TXID)
    hiro.on("GET", path, Reply(body=p.transaction("abort_by_response", "0x080100000000000000000000000000000069")))
    aborted = await client.get_transaction(p.TXID)
    assert aborted.result == ClarityErr(ClarityUInt(105))
    with pytest.raises(ValueError):
        await client.get_transaction("not-a-txid")


async def test_nonces_with_fallback_to_the_account(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", f"/extended/v1/address/{p.OWNER}/nonces",
            Reply(body={"last_mempool_tx_nonce": 14, "last_executed_tx_nonce": 12, "possible_next_nonce": 15,
                        "detected_missing_nonces": [13], "detected_mempool_nonces": [14]}))  # fmt: skip
    info = await client.get_nonces(p.OWNER)
    assert info.possible_next_nonce == 15 and info.detected_missing_nonces == (13,)
    hiro.reset()
    hiro.on("GET", f"/v2/accounts/{p.OWNER}", Reply(body={"balance": "0x0", "locked": "0x0", "nonce": 4}))
    assert (await client.get_nonces(p.OWNER)).possible_next_nonce == 4


async def test_broadcast_sends_raw_bytes_and_returns_the_txid(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("POST", "/v2/transactions", Reply(body=p.TXID.removeprefix("0x")))
    raw = bytes.fromhex("0000000001040000")
    assert await client.broadcast_transaction(raw) == p.TXID
    seen = hiro.requests_to("/v2/transactions")[0]
    assert seen.body == raw and seen.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("reason", "reason_data", "cls"),
    [
        ("BadNonce", {"expected": 9, "actual": 7, "is_origin": True, "principal": p.OWNER}, BadNonce),
        ("NotEnoughFunds", {"expected": "0x1000", "actual": "0x10"}, NotEnoughFunds),
        ("SignatureValidation", None, SignatureValidation),
        ("NoSuchContract", None, NoSuchContract),
        ("NoSuchPublicFunction", None, NoSuchPublicFunction),
        ("Deserialization", None, Deserialization),
        ("FeeTooLow", {"expected": 180, "actual": 10}, FeeTooLow),
        ("ConflictingNonceInMempool", None, ConflictingNonceInMempool),
        ("TooMuchChaining", {"message": "Nonce would exceed chaining limit in mempool", "expected": 25,
                             "actual": 26, "principal": p.OWNER, "is_origin": True}, TooMuchChaining),
        ("ContractAlreadyExists", {"contract_identifier": p.REGISTRY}, ContractAlreadyExists),
        ("TemporarilyBlacklisted", None, BroadcastRejected),
    ],
)  # fmt: skip
async def test_broadcast_rejections_are_typed(
    hiro: FakeHiro, client: StacksApiClient, reason: str, reason_data: object, cls: type[BroadcastRejected]
) -> None:
    body: dict[str, object] = {"error": "transaction rejected", "reason": reason, "txid": p.TXID.removeprefix("0x")}
    if reason_data is not None:
        body["reason_data"] = reason_data
    hiro.on("POST", "/v2/transactions", Reply(400, body))
    with pytest.raises(cls) as info:
        await client.broadcast_transaction(b"\x00")
    assert type(info.value) is cls
    assert info.value.reason == reason and info.value.reason_data == reason_data
    # reason_data read where the node gives it: numbers, or NotEnoughFunds' 0x hex u128 strings
    expected = {"BadNonce": (9, 7), "NotEnoughFunds": (4096, 16), "FeeTooLow": (180, 10), "TooMuchChaining": (25, 26)}
    if reason in expected:
        assert (info.value.expected, info.value.actual) == expected[reason]  # type: ignore[attr-defined]
    assert info.value.detail.startswith(reason)
    assert len(hiro.seen) == 1  # a rejection is never retried


async def test_broadcast_odd_answers(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("POST", "/v2/transactions", Reply(400, raw=b"transaction rejected: bad bytes"))
    with pytest.raises(BroadcastRejected):
        await client.broadcast_transaction(b"\x00")
    hiro.on("POST", "/v2/transactions", Reply(200, body={"txid": "x"}))
    with pytest.raises(ChainProtocolError):
        await client.broadcast_transaction(b"\x00")
    hiro.on("POST", "/v2/transactions", Reply(200, body="nothex"))
    with pytest.raises(ChainProtocolError):
        await client.broadcast_transaction(b"\x00")


async def test_read_only_calls(hiro: FakeHiro, client: StacksApiClient) -> None:
    path = "/v2/contracts/call-read/SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7/policy-registry/get-policy-counter"
    hiro.on("POST", path, Reply(body={"okay": True, "result": "0x0100000000000000000000000000000005"}))
    value = await client.call_read_only(p.REGISTRY, "get-policy-counter", [uint_cv(1), principal_cv(p.OWNER)],
                                        sender=p.OWNER)  # fmt: skip
    assert value == ClarityUInt(5)
    sent = json.loads(hiro.requests_to(path)[0].body)
    assert sent == {"sender": p.OWNER, "arguments": [to_hex(uint_cv(1)), to_hex(principal_cv(p.OWNER))]}
    hiro.on("POST", path, Reply(body={"okay": False, "cause": 'Unchecked(NoSuchContract("..."))'}))
    with pytest.raises(ReadOnlyCallError, match="NoSuchContract"):
        await client.call_read_only(p.REGISTRY, "get-policy-counter", sender=p.OWNER)
    hiro.on("POST", path, Reply(body={"okay": True, "result": "0x0f"}))
    with pytest.raises(ChainProtocolError):
        await client.call_read_only(p.REGISTRY, "get-policy-counter", sender=p.OWNER)
    hiro.on("POST", path, Reply(body={"okay": "yes"}))
    with pytest.raises(ChainProtocolError):
        await client.call_read_only(p.REGISTRY, "get-policy-counter", sender=p.OWNER)
    with pytest.raises(ValueError):
        await client.call_read_only(p.OWNER, "f", sender=p.OWNER)


async def test_contract_logs_v2_cursor_paging(hiro: FakeHiro, client: StacksApiClient) -> None:
    path = f"/extended/v2/smart-contracts/{p.REGISTRY}/logs"

    def handler(seen: object) -> Reply:
        cursor = seen.query.get("cursor")  # type: ignore[attr-defined]
        if cursor is None:
            return Reply(body=p.logs_page([p.log_row(3), p.log_row(2)], "1234500:0:1:0", None))
        if cursor == "1234500:0:1:0":
            return Reply(body=p.logs_page([p.log_row(1)], None, cursor))
        return Reply(404, {"error": "Not Found", "message": "Cursor not found"})

    hiro.on("GET", path, handler)
    first = await client.get_contract_logs(p.REGISTRY, limit=2)
    assert first.source == "v2" and first.next_cursor == "1234500:0:1:0" and first.total == 3
    assert [to_python(e.value)["policy-id"] for e in first.events] == [3, 2]
    assert first.events[0].tx_id == p.TXID and first.events[0].topic == "print"
    second = await client.get_contract_logs(p.REGISTRY, limit=2, cursor=first.next_cursor)
    assert [to_python(e.value)["policy-id"] for e in second.events] == [1] and second.next_cursor is None
    assert hiro.requests_to(path)[1].query == {"limit": "2", "cursor": "1234500:0:1:0"}
    with pytest.raises(CursorNotFound):
        await client.get_contract_logs(p.REGISTRY, limit=2, cursor="1:0:0:0")


async def test_contract_logs_fall_back_to_v1_on_410(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", f"/extended/v2/smart-contracts/{p.REGISTRY}/logs",
            Reply(410, {"error": "Gone", "message": "This endpoint has been deprecated"}))  # fmt: skip

    def v1(seen: object) -> Reply:
        offset = int(seen.query["offset"])  # type: ignore[attr-defined]
        rows = [p.log_row(3), p.stx_asset_row()] if offset == 0 else [p.log_row(1)]
        return Reply(body={"limit": 2, "offset": offset, "results": rows})

    hiro.on("GET", f"/extended/v1/contract/{p.REGISTRY}/events", v1)
    page = await client.get_contract_logs(p.REGISTRY, limit=2)
    assert page.source == "v1" and page.next_cursor == "offset:2"
    assert [to_python(e.value)["policy-id"] for e in page.events] == [3]  # the asset event is not a log
    page2 = await client.get_contract_logs(p.REGISTRY, limit=2, cursor=page.next_cursor)
    assert page2.next_cursor is None and len(page2.events) == 1
    # the client remembers: the v2 route is not asked again
    await client.get_contract_logs(p.REGISTRY, limit=2)
    assert len(hiro.requests_to(f"/extended/v2/smart-contracts/{p.REGISTRY}/logs")) == 1


async def test_429_retry_after_is_honoured(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", "/extended", Reply(429, {"error": "rate limited"}, headers={"retry-after": "0.4"}),
            Reply(body=p.api_status()))  # fmt: skip
    start = time.monotonic()
    tip = await client.get_tip()
    assert tip.block_height == 1_234_567
    assert time.monotonic() - start >= 0.38
    assert len(hiro.seen) == 2


async def test_retry_after_is_bounded(hiro: FakeHiro) -> None:
    hiro.on("GET", "/extended", Reply(429, {"error": "rate limited"}, headers={"retry-after": "3600"}),
            Reply(body=p.api_status()))  # fmt: skip
    client = StacksApiClient(hiro.base_url, retry=RetryPolicy(base_delay=0.01, max_retry_after=0.3))
    try:
        start = time.monotonic()
        await client.get_tip()
        assert 0.28 <= time.monotonic() - start < 1.5
    finally:
        await client.aclose()


async def test_5xx_bursts_are_retried_then_give_up(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", "/v2/info", Reply(500, raw=b"oops"), Reply(502, raw=b"<html>bad gateway</html>"),
            Reply(body=p.node_info()))  # fmt: skip
    assert (await client.get_node_info()).burn_block_height == 880_123
    assert len(hiro.seen) == 3
    hiro.reset()
    hiro.on("GET", "/v2/info", Reply(503, raw=b"unavailable"))
    with pytest.raises(StacksApiUnavailable, match="server error 503 after 4 attempts"):
        await client.get_node_info()
    assert len(hiro.seen) == FAST.attempts


async def test_timeouts_are_retried_then_give_up(hiro: FakeHiro) -> None:
    client = StacksApiClient(hiro.base_url, timeout=0.2, retry=RetryPolicy(attempts=2, base_delay=0.01))
    try:
        hiro.on("GET", "/v2/info", Reply(body=p.node_info(), delay=0.6), Reply(body=p.node_info()))
        assert (await client.get_node_info()).stacks_tip_height == 1_234_567
        hiro.on("GET", "/v2/info", Reply(body=p.node_info(), delay=0.6))
        with pytest.raises(StacksApiUnavailable, match="timeout"):
            await client.get_node_info()
    finally:
        await client.aclose()


async def test_connection_refused_is_chain_unavailable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = StacksApiClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=2, base_delay=0.01))
    try:
        with pytest.raises(StacksApiUnavailable, match="connection error"):
            await client.get_tip()
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, raw=b"{not json"),
        Reply(200, raw=b""),
        Reply(200, body=["a", "list"]),
        Reply(200, body={"chain_tip": None}),
        Reply(200, body={"chain_tip": {"block_height": "12", "block_hash": "x", "burn_block_height": 1}}),
        Reply(200, body={"chain_tip": {"block_height": True, "block_hash": "x", "burn_block_height": 1}}),
        Reply(302, raw=b"", headers={"location": "http://example.invalid/"}),
    ],
)
async def test_malformed_answers_are_protocol_errors(hiro: FakeHiro, client: StacksApiClient, reply: Reply) -> None:
    hiro.on("GET", "/extended", reply)
    with pytest.raises(ChainProtocolError):
        await client.get_tip()
    assert len(hiro.seen) == 1  # not retried


async def test_malformed_logs_and_transactions(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", f"/extended/v2/smart-contracts/{p.REGISTRY}/logs",
            Reply(body=p.logs_page([{"tx_id": p.TXID, "event_index": 0}], None)))  # fmt: skip
    with pytest.raises(ChainProtocolError):
        await client.get_contract_logs(p.REGISTRY)
    hiro.on("GET", f"/extended/v1/tx/{p.TXID}", Reply(body={"tx_id": "0x12", "tx_status": "success"}))
    with pytest.raises(ChainProtocolError):
        await client.get_transaction(p.TXID)
    bad_result = p.transaction("success", "0xff")
    hiro.on("GET", f"/extended/v1/tx/{p.TXID}", Reply(body=bad_result))
    tx = await client.get_transaction(p.TXID)
    with pytest.raises(ChainProtocolError):
        _ = tx.result


async def test_api_key_never_logged(hiro: FakeHiro, client: StacksApiClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hiro.on("GET", "/extended", Reply(500, raw=b""), Reply(429, {}, headers={"retry-after": "0"}),
            Reply(body=p.api_status()))  # fmt: skip
    await client.get_tip()
    assert caplog.records  # the retries were logged
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(client)
