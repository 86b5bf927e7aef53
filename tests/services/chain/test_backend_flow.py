"""Nonces, backend sign-and-broadcast and transaction monitoring, against the loopback Hiro."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.chain.api_client import NonceInfo, RetryPolicy, StacksApiClient
from services.chain.backend_tx import FeePolicy, sign_and_broadcast_contract_call
from services.chain.clarity import ClarityBool, ClarityErr, ClarityOk, ClarityUInt, uint_cv
from services.chain.errors import BadNonce, NotEnoughFunds
from services.chain.monitor import monitor_transaction
from services.chain.nonces import NonceManager
from services.chain.signer import BackendSigner
from services.chain.transactions import (
    ContractCallPayload,
    StacksTransaction,
    StxPostCondition,
    deserialize_transaction,
    verify_origin_signature,
)

from . import hiro_payloads as p
from .hiro_server import FakeHiro, Reply, Seen

SIGNER = BackendSigner.from_hex("edf9aee84d9b7abc145504dde6726c64f369d37ee34ded868fabd876c26570bc01")
NONCES_PATH = f"/extended/v1/address/{SIGNER.address}/nonces"


def _nonces(n: int, missing: list[int] | None = None) -> Reply:
    return Reply(body={"last_mempool_tx_nonce": None, "last_executed_tx_nonce": n - 1 if n else None,
                       "possible_next_nonce": n, "detected_missing_nonces": missing or [],
                       "detected_mempool_nonces": []})  # fmt: skip


@pytest.fixture
async def client(hiro: FakeHiro) -> AsyncIterator[StacksApiClient]:
    c = StacksApiClient(hiro.base_url, timeout=2.0, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02))
    yield c
    await c.aclose()


async def test_concurrent_nonces_are_sequential_and_read_the_chain_once(
    hiro: FakeHiro, client: StacksApiClient
) -> None:
    hiro.on("GET", NONCES_PATH, _nonces(41, missing=[39]))
    manager = NonceManager(client, SIGNER.address)
    nonces = await asyncio.gather(*(manager.next_nonce() for _ in range(25)))
    assert sorted(nonces) == list(range(41, 66))
    assert len(hiro.requests_to(NONCES_PATH)) == 1
    assert manager.missing_nonces == (39,)


async def test_resync_and_release() -> None:
    class Source:
        def __init__(self) -> None:
            self.value = 5
            self.calls = 0

        async def get_nonces(self, principal: str) -> NonceInfo:
            self.calls += 1
            return NonceInfo(possible_next_nonce=self.value)

    source = Source()
    manager = NonceManager(source, SIGNER.address)
    assert [await manager.next_nonce() for _ in range(3)] == [5, 6, 7]
    await manager.release(7)  # the latest: reused
    assert await manager.next_nonce() == 7
    await manager.release(6)  # not the latest: the next call reads the chain again
    source.value = 6
    assert await manager.next_nonce() == 6 and source.calls == 2
    await manager.resync(expected=10)  # the node said it expects 10
    assert await manager.next_nonce() == 10


async def test_sign_and_broadcast_resyncs_on_bad_nonce(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", NONCES_PATH, _nonces(3), _nonces(3), _nonces(4))
    broadcasts: list[StacksTransaction] = []

    def broadcast(seen: Seen) -> Reply:
        tx = deserialize_transaction(seen.body)
        broadcasts.append(tx)
        if tx.nonce < 5:
            return Reply(400, {"error": "transaction rejected", "reason": "BadNonce",
                               "reason_data": {"expected": 5, "actual": tx.nonce, "is_origin": True,
                                               "principal": SIGNER.address}, "txid": tx.txid()[2:]})  # fmt: skip
        return Reply(body=tx.txid()[2:])

    hiro.on("POST", "/v2/transactions", broadcast)
    hiro.on("POST", "/v2/fees/transaction",
            Reply(body={"estimated_cost": {}, "estimated_cost_scalar": 14, "cost_scalar_change_by_byte": 0.0,
                        "estimations": [{"fee_rate": 1, "fee": 2000}, {"fee_rate": 2, "fee": 3000},
                                        {"fee_rate": 3, "fee": 9_000_000}]}))  # fmt: skip
    recorded: list[str] = []

    async def on_signed(tx: StacksTransaction) -> None:
        recorded.append(tx.txid())

    manager = NonceManager(client, SIGNER.address)
    result = await sign_and_broadcast_contract_call(
        client, SIGNER, manager,
        contract_id=p.REGISTRY, function_name="update-policy-status",
        function_args=[uint_cv(1), uint_cv(2), uint_cv(0), uint_cv(0)],
        post_conditions=[StxPostCondition(p.REGISTRY, "lte", 0)],
        on_signed=on_signed,
    )  # fmt: skip
    assert [tx.nonce for tx in broadcasts] == [3, 5]
    assert result.nonce == 5 and result.fee == 3000 and result.txid == broadcasts[-1].txid()
    assert recorded == [tx.txid() for tx in broadcasts]
    final = deserialize_transaction(result.raw_tx)
    assert verify_origin_signature(final) and final.origin_address() == SIGNER.address
    assert isinstance(final.payload, ContractCallPayload) and final.payload.contract_id == p.REGISTRY
    assert await manager.next_nonce() == 6


async def test_other_rejections_give_the_nonce_back(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", NONCES_PATH, _nonces(8))
    rejection = {"error": "transaction rejected", "reason": "NotEnoughFunds",
                 "reason_data": {"expected": "0x2710", "actual": "0x0"}}  # fmt: skip
    hiro.on("POST", "/v2/transactions", Reply(400, rejection))
    manager = NonceManager(client, SIGNER.address)
    with pytest.raises(NotEnoughFunds):
        await sign_and_broadcast_contract_call(
            client, SIGNER, manager, contract_id=p.REGISTRY, function_name="f", function_args=[], fee=500
        )
    assert await manager.next_nonce() == 8
    with pytest.raises(ValueError, match="cap"):
        await sign_and_broadcast_contract_call(
            client, SIGNER, manager, contract_id=p.REGISTRY, function_name="f", function_args=[], fee=10**9,
            fee_policy=FeePolicy(maximum=10_000),
        )  # fmt: skip


async def test_bad_nonce_retries_are_bounded(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", NONCES_PATH, _nonces(1))
    hiro.on("POST", "/v2/transactions", Reply(400, {"error": "transaction rejected", "reason": "BadNonce",
                                                    "reason_data": {"expected": 0, "actual": 1}}))  # fmt: skip
    with pytest.raises(BadNonce):
        await sign_and_broadcast_contract_call(
            client, SIGNER, NonceManager(client, SIGNER.address), contract_id=p.REGISTRY, function_name="f",
            function_args=[], fee=500, nonce_retries=1,
        )  # fmt: skip
    assert len(hiro.requests_to("/v2/transactions")) == 2


async def test_monitor_pending_then_success(hiro: FakeHiro, client: StacksApiClient) -> None:
    path = f"/extended/v1/tx/{p.TXID}"
    hiro.on("GET", path, Reply(404, {"error": "could not find transaction by ID"}),
            Reply(body=p.transaction("pending")), Reply(500, raw=b""), Reply(500, raw=b""), Reply(500, raw=b""),
            Reply(body=p.transaction("success", "0x0703")))  # fmt: skip
    result = await monitor_transaction(client, p.TXID, timeout=5, poll_interval=0.01)
    assert result.state == "success" and result.result == ClarityOk(ClarityBool(True))
    assert result.block_height == 1_234_560 and result.burn_block_height == 880_120


@pytest.mark.parametrize(
    ("status", "result_hex", "expected"),
    [
        ("abort_by_response", "0x08" + "01" + "00" * 15 + "6c", ClarityErr(ClarityUInt(108))),
        ("abort_by_post_condition", "0x0703", ClarityOk(ClarityBool(True))),
        ("dropped_replace_by_fee", None, None),
        ("dropped_stale_garbage_collect", None, None),
    ],
)
async def test_monitor_failures_carry_the_reason(
    hiro: FakeHiro, client: StacksApiClient, status: str, result_hex: str | None, expected: object
) -> None:
    hiro.on("GET", f"/extended/v1/tx/{p.TXID}", Reply(body=p.transaction(status, result_hex or "0x")))
    result = await monitor_transaction(client, p.TXID.upper().replace("0X", "0x"), timeout=2, poll_interval=0.01)
    assert result.state == "failed" and result.reason == status and result.result == expected


async def test_monitor_times_out_as_pending(hiro: FakeHiro, client: StacksApiClient) -> None:
    hiro.on("GET", f"/extended/v1/tx/{p.TXID}", Reply(body=p.transaction("pending")))
    result = await monitor_transaction(client, p.TXID, timeout=0.15, poll_interval=0.05)
    assert result.state == "pending" and result.reason == "timeout" and result.tx_status == "pending"
    # mined in a block that is no longer canonical: still pending
    hiro.on("GET", f"/extended/v1/tx/{p.TXID}", Reply(body=p.transaction("success", canonical=False)))
    result = await monitor_transaction(client, p.TXID, timeout=0.1, poll_interval=0.05)
    assert result.state == "pending"
