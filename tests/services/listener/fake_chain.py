"""A scripted Stacks node + Hiro API on loopback that can reorg: a real uvicorn server (in a thread) whose
answers are built from a small chain model in the shapes Hiro returns (v2 contract logs with cursors, v1 tx,
v2 blocks, /extended, /v2/info, call-read).

Tests mine blocks of transactions whose print events are real Clarity tuples, orphan blocks and mine a
different branch, inject faults (5xx, 429 with retry-after, malformed JSON, malformed rows) and scramble pages
(rows shuffled within a page, duplicated across pages).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from services.chain.clarity import (
    ClarityValue,
    buff_cv,
    principal_cv,
    string_ascii_cv,
    to_hex,
    tuple_cv,
    uint_cv,
)

DEPLOYER = "STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32"
REGISTRY = f"{DEPLOYER}.policy-registry"
VAULT = f"{DEPLOYER}.liquidity-pool-vault"
OWNER = "ST18W2WYJF48B6F0Z9YQ344ZX8J0BQ8C1B20G1V05"
PROVIDER = "ST27WR3RR6AGHC4SVGKA3EM1AD3QK2SX0WXM77HMG"
MICROBLOCK_SEQUENCE = 2147483647


def h(*parts: object) -> str:
    return "0x" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


@dataclass
class FakeTx:
    txid: str
    prints: list[tuple[str, str]]  # (contract id, value hex), in order
    status: str = "success"
    function: str = "create-policy-entry"
    gaps: bool = True  # interleave an stx_asset event before each print, as Hiro numbers all events

    def log_events(self) -> list[tuple[int, str, str]]:
        out = []
        index = 0
        for contract, value in self.prints:
            if self.gaps:
                index += 1
            out.append((index, contract, value))
            index += 1
        return out


@dataclass
class FakeBlock:
    height: int
    hash: str
    burn_height: int
    time: int
    txs: list[FakeTx]
    canonical: bool = True


@dataclass
class Fault:
    path_prefix: str
    status: int = 500
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class FakeChain:
    def __init__(self, marker: str = "a" * 32) -> None:
        self.marker = marker
        self.blocks: list[FakeBlock] = []
        self.orphans: dict[str, FakeBlock] = {}
        self.mempool: dict[str, FakeTx] = {}
        self.burn_height = 100
        self.branch = 0
        self.faults: list[Fault] = []
        self.shuffle_pages = False
        self.duplicate_rows = False
        self.extra_rows: dict[str, list[dict[str, Any]]] = {}  # contract → raw rows served first
        self.chain_policies: dict[int, dict[str, Any]] = {}  # get-policy answers (reconciliation tests)
        self.used_quotes: set[bytes] = set()  # is-quote-used answers
        self.rng = random.Random(7)
        self.seen: list[str] = []
        self.base_url = ""
        # Test controls (the kill tests meter a worker's progress with them): the highest block the node and the
        # API admit to (None: the real tip), and a path prefix whose requests wait until `release()`.
        self.tip_cap: int | None = None
        self.hold_prefix: str | None = None
        self.held = 0  # requests that have waited on `hold_prefix`
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.mine([FakeTx(h(marker, "genesis"), [], function="deploy")], burn=0)

    # chain model -----------------------------------------------------------------------------------------

    @property
    def tip(self) -> FakeBlock:
        return self.blocks[-1]

    @property
    def visible_tip(self) -> FakeBlock:
        """The tip the node reports: the real one, or block `tip_cap` (confirmed by the burn block after it)."""
        return self.tip if self.tip_cap is None else self.blocks[min(self.tip_cap, len(self.blocks) - 1)]

    @property
    def visible_burn_height(self) -> int:
        return self.burn_height if self.tip_cap is None else min(self.burn_height, self.visible_tip.burn_height + 1)

    def mine(self, txs: list[FakeTx], burn: int = 1) -> FakeBlock:
        with self._lock:
            self.burn_height += burn
            height = len(self.blocks)
            block = FakeBlock(
                height,
                h(self.marker, "block", height, self.branch),
                self.burn_height,
                1_764_000_000 + height * 5,
                txs,
            )
            self.blocks.append(block)
            for tx in txs:
                self.mempool.pop(tx.txid, None)
            return block

    def hold(self, prefix: str) -> None:
        """Requests whose path starts with `prefix` wait (up to 60 s) until `release()`."""
        self._released.clear()
        self.hold_prefix = prefix

    def release(self) -> None:
        self.hold_prefix = None
        self._released.set()

    def burn(self, n: int = 1) -> None:
        self.mine([], burn=n)

    def reorg(self, from_height: int) -> list[FakeBlock]:
        """Orphan every block from ``from_height`` up; their txs go back to the mempool (pending)."""
        with self._lock:
            gone = self.blocks[from_height:]
            self.blocks = self.blocks[:from_height]
            self.branch += 1
            for block in gone:
                block.canonical = False
                self.orphans[block.hash] = block
                for tx in block.txs:
                    self.mempool[tx.txid] = tx
            self.burn_height = self.blocks[-1].burn_height
            return gone

    def find_tx(self, txid: str) -> tuple[FakeTx, FakeBlock | None, int] | None:
        for block in self.blocks:
            for index, tx in enumerate(block.txs):
                if tx.txid == txid:
                    return tx, block, index
        if txid in self.mempool:
            return self.mempool[txid], None, 0
        for block in self.orphans.values():
            for index, tx in enumerate(block.txs):
                if tx.txid == txid:
                    return tx, block, index
        return None

    # payloads --------------------------------------------------------------------------------------------

    def block_json(self, block: FakeBlock) -> dict[str, Any]:
        return {
            "canonical": block.canonical,
            "height": block.height,
            "hash": block.hash,
            "block_time": block.time,
            "block_time_iso": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(block.time)),
            "index_block_hash": h("index", block.hash),
            "parent_block_hash": self.blocks[block.height - 1].hash if block.height else "0x" + "00" * 32,
            "parent_index_block_hash": h("index-parent", block.hash),
            "burn_block_time": block.time,
            "burn_block_time_iso": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(block.time)),
            "burn_block_hash": h("burn", block.burn_height),
            "burn_block_height": block.burn_height,
            "miner_txid": h("miner", block.height),
            "tx_count": len(block.txs),
            "execution_cost_read_count": 0,
            "execution_cost_read_length": 0,
            "execution_cost_runtime": 0,
            "execution_cost_write_count": 0,
            "execution_cost_write_length": 0,
        }

    def log_row(self, tx: FakeTx, index: int, contract: str, value: str) -> dict[str, Any]:
        return {
            "event_index": index,
            "event_type": "smart_contract_log",
            "tx_id": tx.txid,
            "contract_log": {"contract_id": contract, "topic": "print", "value": {"hex": value, "repr": "(tuple ...)"}},
        }

    def tx_json(self, txid: str) -> dict[str, Any] | None:
        found = self.find_tx(txid)
        if found is None:
            return None
        tx, block, index = found
        body: dict[str, Any] = {
            "tx_id": tx.txid,
            "nonce": 3,
            "fee_rate": "2000",
            "sender_address": OWNER,
            "sponsored": False,
            "post_condition_mode": "deny",
            "post_conditions": [],
            "anchor_mode": "any",
            "tx_status": "pending" if block is None else tx.status,
            "receipt_time": 1_764_000_000,
            "receipt_time_iso": "2025-11-24T16:00:00.000Z",
            "tx_type": "contract_call",
            "contract_call": {"contract_id": REGISTRY, "function_name": tx.function, "function_signature": ""},
        }
        if block is None:
            return body
        body.update(
            {
                "is_unanchored": False,
                "block_hash": block.hash,
                "block_height": block.height,
                "index_block_hash": h("index", block.hash),
                "block_time": block.time,
                "burn_block_height": block.burn_height,
                "burn_block_time": block.time,
                "canonical": block.canonical,
                "tx_index": index,
                "tx_result": {"hex": "0x0703", "repr": "(ok true)"},
                "microblock_canonical": True,
                "microblock_sequence": MICROBLOCK_SEQUENCE,
                "event_count": len(tx.prints) * 2,
                "events": [self.log_row(tx, i, c, v) for i, c, v in tx.log_events()],
                "vm_error": None,
            }
        )
        return body

    def log_list(self, contract: str) -> list[tuple[str, dict[str, Any]]]:
        """(cursor, row), newest first, canonical blocks only."""
        out = []
        for block in reversed(self.blocks):
            for tx_index in reversed(range(len(block.txs))):
                tx = block.txs[tx_index]
                if tx.status != "success":
                    continue
                for index, c, value in reversed(tx.log_events()):
                    if c == contract:
                        cursor = f"{block.height}:{MICROBLOCK_SEQUENCE}:{tx_index}:{index}"
                        out.append((cursor, self.log_row(tx, index, c, value)))
        return out

    def logs_page(self, contract: str, limit: int, cursor: str | None) -> dict[str, Any] | None:
        entries = self.log_list(contract)
        start = 0
        if cursor:
            positions = [i for i, (c, _) in enumerate(entries) if c == cursor]
            if not positions:
                return None
            start = positions[0]
        rows = [row for _, row in entries[start : start + limit]]
        if self.duplicate_rows and start + limit < len(entries):
            rows.append(entries[start + limit][1])  # the next page's first row, served twice
        if self.shuffle_pages:
            self.rng.shuffle(rows)
        if not cursor and contract in self.extra_rows:
            rows = self.extra_rows[contract] + rows
        return {
            "limit": limit,
            "offset": start,
            "total": len(entries),
            "next_cursor": entries[start + limit][0] if start + limit < len(entries) else None,
            "prev_cursor": None,
            "cursor": entries[start][0] if entries else None,
            "results": rows,
        }

    # HTTP ------------------------------------------------------------------------------------------------

    def _fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if path.startswith(fault.path_prefix) and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.seen.append(path)
        prefix = self.hold_prefix
        if prefix is not None and path.startswith(prefix):
            self.held += 1
            await asyncio.to_thread(self._released.wait, 60)
        fault = self._fault(path)
        if fault is not None:
            content = fault.raw if fault.raw is not None else json.dumps(fault.body or {"error": "boom"}).encode()
            return Response(content, fault.status, headers=fault.headers, media_type="application/json")
        try:
            raw = await request.body()
        except ClientDisconnect:  # the client went away (a killed worker): nobody to answer
            return Response(status_code=499)
        with self._lock:
            status, body = self.route(request.method, path, dict(request.query_params), raw)
        return Response(json.dumps(body).encode(), status, media_type="application/json")

    def route(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        tip = self.visible_tip
        burn_height = self.visible_burn_height
        if path == "/v2/info":
            return 200, {
                "peer_version": 4207599116,
                "burn_block_height": burn_height,
                "stable_burn_block_height": burn_height - 1,
                "server_version": "stacks-node devnet (fake)",
                "network_id": 2147483648,
                "parent_network_id": 3669344250,
                "stacks_tip_height": tip.height,
                "stacks_tip": tip.hash[2:],
                "genesis_chainstate_hash": self.marker.ljust(64, "0"),
                "is_fully_synced": True,
                "devnet_chain_marker": self.marker,
            }
        if path.rstrip("/") == "/extended":
            return 200, {
                "server_version": "stacks-blockchain-api (fake)",
                "status": "ready",
                "chain_tip": {
                    "block_height": tip.height,
                    "block_hash": tip.hash,
                    "index_block_hash": h("index", tip.hash),
                    "microblock_hash": None,
                    "microblock_sequence": None,
                    "burn_block_height": burn_height,
                },
            }
        if path.startswith("/extended/v1/tx/"):
            txid = path.rsplit("/", 1)[1].lower()
            txid = txid if txid.startswith("0x") else "0x" + txid
            tx = self.tx_json(txid)
            return (200, tx) if tx else (404, {"error": f"could not find transaction by ID {txid}"})
        if path.startswith("/extended/v2/blocks/"):
            key = path.rsplit("/", 1)[1]
            if key.isdigit():
                height = int(key)
                return (200, self.block_json(self.blocks[height])) if height < len(self.blocks) else (404, {})
            for block in self.blocks:
                if block.hash == key:
                    return 200, self.block_json(block)
            if key in self.orphans:
                return 200, self.block_json(self.orphans[key])
            return 404, {"error": "block not found"}
        if path.startswith("/extended/v2/smart-contracts/") and path.endswith("/logs"):
            contract = path.split("/")[4]
            page = self.logs_page(contract, int(query.get("limit", 20)), query.get("cursor"))
            return (200, page) if page else (404, {"error": "Cursor not found"})
        if path.startswith("/v2/contracts/call-read/") and method == "POST":
            return 200, self.call_read(path.rsplit("/", 1)[1], json.loads(body or b"{}"))
        return 404, {"error": "Not Found", "message": f"Route {path} not found"}

    def call_read(self, function: str, body: dict[str, Any]) -> dict[str, Any]:
        from services.chain.clarity import ClarityBuffer, ClarityUInt, deserialize, none_cv, some_cv

        if function == "get-policy":
            arg = deserialize(body["arguments"][0])
            assert isinstance(arg, ClarityUInt)  # reconciliation sends uint_cv(onchain_id)
            policy = self.chain_policies.get(arg.value)
            if policy is None:
                return {"okay": True, "result": to_hex(none_cv())}
            return {"okay": True, "result": to_hex(some_cv(tuple_cv({k: uint_cv(v) for k, v in policy.items()})))}
        if function == "is-quote-used":
            quote_cv = deserialize(body["arguments"][0])
            assert isinstance(quote_cv, ClarityBuffer)  # the tx monitor sends buff_cv(quote id)
            quote = quote_cv.value
            return {"okay": True, "result": "0x03" if quote in self.used_quotes else "0x04"}
        return {"okay": False, "cause": f'Unchecked(UndefinedFunction("{function}"))'}

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])


def run_fake_chain(chain: FakeChain) -> Iterator[FakeChain]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(chain.app(), log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake chain did not start")
        time.sleep(0.01)
    chain.base_url = f"http://127.0.0.1:{port}"
    try:
        yield chain
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


# print payloads, exactly as the contracts print them ------------------------------------------------------


def _hex(fields: dict[str, ClarityValue]) -> str:
    return to_hex(tuple_cv(fields))


@dataclass
class PolicyTerms:
    policy_id: int
    quote_id: bytes
    tier: str = "Balanced"
    premium: int = 2_000_000
    collateral: int = 50_000_000
    owner: str = OWNER
    strike: int = 6_000_000_000_000
    amount: int = 10_000_000
    expiration: int = 1_000


def creation_tx(
    terms: PolicyTerms, tier_locked: int, tier_capital: int, salt: str = "", tier_pending: int | None = None
) -> FakeTx:
    """The creation's prints. `tier_capital` is the tier's capital (a premium does not change it: it stays pending
    until its policy closes); `tier_pending` the tier's pending premiums after this one (default: this one)."""
    prints = [
        (
            VAULT,
            _hex(
                {
                    "event": string_ascii_cv("collateral-locked"),
                    "policy-id": uint_cv(terms.policy_id),
                    "tier": string_ascii_cv(terms.tier),
                    "amount-ustx": uint_cv(terms.collateral),
                    "tier-locked-ustx": uint_cv(tier_locked),
                }
            ),
        ),
        (
            VAULT,
            _hex(
                {
                    "event": string_ascii_cv("premium-received"),
                    "policy-id": uint_cv(terms.policy_id),
                    "tier": string_ascii_cv(terms.tier),
                    "payer": principal_cv(terms.owner),
                    "amount-ustx": uint_cv(terms.premium),
                    "tier-capital-ustx": uint_cv(tier_capital),
                    "tier-pending-premiums-ustx": uint_cv(terms.premium if tier_pending is None else tier_pending),
                }
            ),
        ),
        (
            REGISTRY,
            _hex(
                {
                    "event": string_ascii_cv("policy-created"),
                    "policy-id": uint_cv(terms.policy_id),
                    "owner": principal_cv(terms.owner),
                    "counterparty": principal_cv(VAULT),
                    "protected-value-usd8": uint_cv(terms.strike),
                    "protected-amount-sats": uint_cv(terms.amount),
                    "expiration-height": uint_cv(terms.expiration),
                    "policy-type": string_ascii_cv("PUT"),
                    "premium-ustx": uint_cv(terms.premium),
                    "collateral-ustx": uint_cv(terms.collateral),
                    "risk-tier": string_ascii_cv(terms.tier),
                    "quote-id": buff_cv(terms.quote_id),
                }
            ),
        ),
    ]
    return FakeTx(h("create", terms.policy_id, terms.quote_id.hex(), salt), prints)


def settlement_tx(
    terms: PolicyTerms,
    payout: int,
    price: int,
    burn_height: int,
    tier_locked_after: int,
    salt: str = "",
    *,
    tier_capital_after: int,
    tier_pending_after: int = 0,
) -> FakeTx:
    """The settlement's prints. `tier_capital_after` is the tier's capital once the payout left (before the
    premium vests); `tier_locked_after` / `tier_pending_after` the tier's totals once the policy is closed."""
    released = terms.collateral - payout
    prints = [
        (
            VAULT,
            _hex(
                {
                    "event": string_ascii_cv("settlement-paid"),
                    "policy-id": uint_cv(terms.policy_id),
                    "tier": string_ascii_cv(terms.tier),
                    "recipient": principal_cv(terms.owner),
                    "amount-ustx": uint_cv(payout),
                    "tier-capital-ustx": uint_cv(tier_capital_after),
                    "tier-locked-ustx": uint_cv(tier_locked_after + released),
                }
            ),
        ),
        (
            VAULT,
            _hex(
                {
                    "event": string_ascii_cv("collateral-released"),
                    "policy-id": uint_cv(terms.policy_id),
                    "tier": string_ascii_cv(terms.tier),
                    "amount-ustx": uint_cv(released),
                    "tier-locked-ustx": uint_cv(tier_locked_after),
                    "premium-vested-ustx": uint_cv(terms.premium),
                    "tier-capital-ustx": uint_cv(tier_capital_after + terms.premium),
                    "tier-pending-premiums-ustx": uint_cv(tier_pending_after),
                }
            ),
        ),
        (
            REGISTRY,
            _hex(
                {
                    "event": string_ascii_cv("policy-status-updated"),
                    "policy-id": uint_cv(terms.policy_id),
                    "previous-status": uint_cv(0),
                    "new-status": uint_cv(1),
                    "settlement-ustx": uint_cv(payout),
                    "settlement-price-usd8": uint_cv(price),
                    "block-height": uint_cv(burn_height),
                }
            ),
        ),
    ]
    return FakeTx(h("settle", terms.policy_id, salt), prints, function="update-policy-status")


SHARES_PER_USTX = 1_000_000  # what the vault mints per uSTX at its first share price


def deposit_tx(tier: str, amount: int, capital_after: int, shares_after: int, salt: str) -> FakeTx:
    value = _hex(
        {
            "event": string_ascii_cv("funds-deposited"),
            "tier": string_ascii_cv(tier),
            "provider": principal_cv(PROVIDER),
            "amount-ustx": uint_cv(amount),
            "shares": uint_cv(amount * SHARES_PER_USTX),
            "tier-capital-ustx": uint_cv(capital_after),
            "tier-total-shares": uint_cv(shares_after),
        }
    )
    return FakeTx(h("deposit", tier, amount, salt), [(VAULT, value)], function="deposit")


def unknown_tx(salt: str) -> FakeTx:
    value = _hex({"event": string_ascii_cv("something-new"), "x": uint_cv(1)})
    return FakeTx(h("unknown", salt), [(REGISTRY, value)], function="future-function")


def malformed_created_tx(salt: str) -> FakeTx:
    # a policy-created print missing most of its fields: stored as invalid, never applied
    value = _hex({"event": string_ascii_cv("policy-created"), "policy-id": uint_cv(999)})
    return FakeTx(h("malformed", salt), [(REGISTRY, value)])
