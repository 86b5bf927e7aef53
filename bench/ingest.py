"""Ingestion benchmark: replay N contract events through the chain listener's apply path, against a raw
`bulk_write` of the same resulting documents.

    python -m bench.ingest            # full: 10,000 events
    python -m bench.ingest --smoke    # 60 events (the test suite runs this)
    python -m bench.ingest --events 2000 --compare-sync   # the same run without --sync-on-commit, interleaved

The events are what the contracts print, as Clarity hex: vault deposits, policy creations (collateral-locked,
premium-received, policy-created; half of them for policies the service already holds as PendingCreation with a
held reservation, half unknown to it), and later settlements (settlement-paid, collateral-released,
policy-status-updated u1) and expiries (collateral-released, policy-status-updated u2). They are turned into
`chain_events` documents by the listener's own ingestion code (decoding included), stored as pending, and then
applied by `ChainListener._apply_confirmed`, the loop a poll runs: one transaction per chunk of events with their
handlers' writes (read once, applied in memory, written in bulk), the events' outcomes and the cursor. Only that
loop is timed.

Baseline: a second database starts from the same state (pending events, pending policies, held reservations) and
receives, by one unordered `bulk_write` per collection, exactly the documents the apply left in the first
(policies, policy_events, tiers, reservations, chain_events, chain_cursor). The two end states are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from pymongo import InsertOne, ReplaceOne
from pymongo.errors import BulkWriteError

from bench.common import Report, owners, say, secantus, workdir
from policy_registry.embedded.secantus import DURABLE, Durability
from services.chain import ContractLogEvent, StacksApiClient, StacksTip, TransactionInfo
from services.chain.clarity import ClarityValue, buff_cv, principal_cv, string_ascii_cv, to_hex, tuple_cv, uint_cv
from services.core.fencing import Unfenced
from services.core.models import PolicyRecord, RiskTier
from services.core.status import Cause, StatusDetailed
from services.listener.events import Source
from services.listener.ingest import event_doc
from services.listener.poller import ChainListener, ListenerConfig, PollReport
from services.store.documents import new_policy_id
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

DEPLOYER = "STH2F0YQ4EY0F9KAK9DWTNHZMKVHVF71AQC25Y32"
REGISTRY = f"{DEPLOYER}.policy-registry"
VAULT = f"{DEPLOYER}.liquidity-pool-vault"
PROVIDER = "ST27WR3RR6AGHC4SVGKA3EM1AD3QK2SX0WXM77HMG"
TIERS = ("Conservative", "Balanced", "Aggressive")
TXS_PER_BLOCK = 8
COLLECTIONS = ("policies", "policy_events", "tiers", "reservations", "chain_events", "chain_cursor")


def _hex(fields: dict[str, ClarityValue]) -> str:
    return to_hex(tuple_cv(fields))


class History:
    """A plausible chain history, built event by event with the vault's running totals."""

    def __init__(self, n_events: int, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.owners = owners(50)
        self.capital = dict.fromkeys(TIERS, 0)
        self.locked = dict.fromkeys(TIERS, 0)
        self.pending = dict.fromkeys(TIERS, 0)  # premiums of open policies: they vest into capital at close
        self.txs: list[tuple[str, list[tuple[str, str]]]] = []  # (txid, [(contract, hex)])
        self.pending_requests: list[dict[str, Any]] = []  # policies the service holds before their creation
        self.live: list[dict[str, Any]] = []
        self.next_id = 1
        events = 0
        while events < n_events:
            room = n_events - events
            roll = self.rng.random()
            if events < 30 or roll < 0.06 or room < 2:
                events += self.deposit()
            elif (roll < 0.55 or not self.live) and room >= 3:
                events += self.create()
            elif room >= 3:
                events += self.finish(settle=self.rng.random() < 0.5)
            else:
                events += self.finish(settle=False)
        self.n_events = events

    def _tx(self, kind: str, prints: list[tuple[str, str]]) -> int:
        self.txs.append((f"0x{os.urandom(32).hex()}", prints))
        return len(prints)

    def deposit(self) -> int:
        tier = self.rng.choice(TIERS)
        amount = self.rng.randrange(1_000, 50_000) * 1_000_000
        self.capital[tier] += amount
        value = _hex(
            {
                "event": string_ascii_cv("funds-deposited"),
                "tier": string_ascii_cv(tier),
                "provider": principal_cv(PROVIDER),
                "amount-ustx": uint_cv(amount),
                "shares": uint_cv(amount * 1_000_000),
                "tier-capital-ustx": uint_cv(self.capital[tier]),
                "tier-total-shares": uint_cv(self.capital[tier] * 1_000_000),
            }
        )
        return self._tx("deposit", [(VAULT, value)])

    def create(self) -> int:
        tier = self.rng.choice(TIERS)
        policy: dict[str, Any] = {
            "id": self.next_id,
            "quote_id": os.urandom(16),
            "tier": tier,
            "owner": self.rng.choice(self.owners),
            "premium": self.rng.randrange(100_000, 20_000_000),
            "collateral": self.rng.randrange(1_000, 100_000) * 10_000,
            "strike": self.rng.randrange(6_000_000, 12_000_000) * 1_000_000,
            "amount": self.rng.choice((1_000_000, 10_000_000, 50_000_000)),
            "expiration": 5_000 + self.rng.randrange(10_000),
        }
        policy["premium"] = min(policy["premium"], policy["collateral"])  # the registry's bound (u110)
        self.next_id += 1
        self.locked[policy["tier"]] += policy["collateral"]
        self.pending[policy["tier"]] += policy["premium"]
        if self.rng.random() < 0.5:
            self.pending_requests.append(policy)
        self.live.append(policy)
        prints = [
            (
                VAULT,
                _hex(
                    {
                        "event": string_ascii_cv("collateral-locked"),
                        "policy-id": uint_cv(policy["id"]),
                        "tier": string_ascii_cv(tier),
                        "amount-ustx": uint_cv(policy["collateral"]),
                        "tier-locked-ustx": uint_cv(self.locked[tier]),
                    }
                ),
            ),
            (
                VAULT,
                _hex(
                    {
                        "event": string_ascii_cv("premium-received"),
                        "policy-id": uint_cv(policy["id"]),
                        "tier": string_ascii_cv(tier),
                        "payer": principal_cv(policy["owner"]),
                        "amount-ustx": uint_cv(policy["premium"]),
                        "tier-capital-ustx": uint_cv(self.capital[tier]),
                        "tier-pending-premiums-ustx": uint_cv(self.pending[tier]),
                    }
                ),
            ),
            (
                REGISTRY,
                _hex(
                    {
                        "event": string_ascii_cv("policy-created"),
                        "policy-id": uint_cv(policy["id"]),
                        "owner": principal_cv(policy["owner"]),
                        "counterparty": principal_cv(VAULT),
                        "protected-value-usd8": uint_cv(policy["strike"]),
                        "protected-amount-sats": uint_cv(policy["amount"]),
                        "expiration-height": uint_cv(policy["expiration"]),
                        "policy-type": string_ascii_cv("PUT"),
                        "premium-ustx": uint_cv(policy["premium"]),
                        "collateral-ustx": uint_cv(policy["collateral"]),
                        "risk-tier": string_ascii_cv(tier),
                        "quote-id": buff_cv(policy["quote_id"]),
                    }
                ),
            ),
        ]
        return self._tx("create", prints)

    def finish(self, settle: bool) -> int:
        policy = self.live.pop(self.rng.randrange(len(self.live)))
        tier = policy["tier"]
        payout = policy["collateral"] // self.rng.randrange(2, 10) if settle else 0
        self.capital[tier] -= payout
        locked_before = self.locked[tier]
        self.locked[tier] -= policy["collateral"]
        self.pending[tier] -= policy["premium"]
        prints = []
        if settle:
            prints.append(
                (
                    VAULT,
                    _hex(
                        {
                            "event": string_ascii_cv("settlement-paid"),
                            "policy-id": uint_cv(policy["id"]),
                            "tier": string_ascii_cv(tier),
                            "recipient": principal_cv(policy["owner"]),
                            "amount-ustx": uint_cv(payout),
                            "tier-capital-ustx": uint_cv(self.capital[tier]),
                            "tier-locked-ustx": uint_cv(locked_before - payout),
                        }
                    ),
                )
            )
        self.capital[tier] += policy["premium"]
        prints.append(
            (
                VAULT,
                _hex(
                    {
                        "event": string_ascii_cv("collateral-released"),
                        "policy-id": uint_cv(policy["id"]),
                        "tier": string_ascii_cv(tier),
                        "amount-ustx": uint_cv(policy["collateral"] - payout),
                        "tier-locked-ustx": uint_cv(self.locked[tier]),
                        "premium-vested-ustx": uint_cv(policy["premium"]),
                        "tier-capital-ustx": uint_cv(self.capital[tier]),
                        "tier-pending-premiums-ustx": uint_cv(self.pending[tier]),
                    }
                ),
            )
        )
        prints.append(
            (
                REGISTRY,
                _hex(
                    {
                        "event": string_ascii_cv("policy-status-updated"),
                        "policy-id": uint_cv(policy["id"]),
                        "previous-status": uint_cv(0),
                        "new-status": uint_cv(1 if settle else 2),
                        "settlement-ustx": uint_cv(payout),
                        "settlement-price-usd8": uint_cv(policy["strike"] - 100_000_000_000 if settle else 0),
                        "block-height": uint_cv(1_000 + len(self.txs)),
                    }
                ),
            )
        )
        return self._tx("finish", prints)


def event_documents(listener: ChainListener, history: History) -> list[dict[str, Any]]:
    """The `chain_events` documents the listener's ingestion writes for this history (pending, decoded)."""
    docs = []
    for number, (txid, prints) in enumerate(history.txs):
        height = 10 + number // TXS_PER_BLOCK
        tx = TransactionInfo(
            tx_id=txid,
            tx_status="success",
            tx_type="contract_call",
            tx_result_hex="0x0703",
            block_height=height,
            block_hash=f"0x{height:064x}",
            burn_block_height=height,
            canonical=True,
            nonce=number,
            sender_address=PROVIDER,
            raw={"tx_index": number % TXS_PER_BLOCK, "block_time": 1_764_000_000 + height * 5},
        )
        for index, (contract, value) in enumerate(prints):
            row = ContractLogEvent(txid, index * 2 + 1, contract, "print", value)
            source: Source = "registry" if contract == REGISTRY else "vault"
            docs.append(event_doc(row, source, tx, "bench-chain", reincarnated=False))
    return docs


async def prepare(store: MongoStore, history: History, events: list[dict[str, Any]]) -> None:
    """The state before the replay: pending requests with their held reservations, and the stored events."""
    await store.ensure_indexes()
    now = datetime(2026, 11, 27, tzinfo=UTC)
    repo = PolicyRepository(store)
    for p in history.pending_requests:
        record = PolicyRecord(
            id=new_policy_id(),
            owner=p["owner"],
            counterparty=VAULT,
            protected_value_usd8=p["strike"],
            protected_amount_sats=p["amount"],
            expiration_height=p["expiration"],
            risk_tier=RiskTier(p["tier"]),
            premium_ustx=p["premium"],
            collateral_ustx=p["collateral"],
            status_detailed=StatusDetailed.PendingCreation,
            quote_id=p["quote_id"].hex(),
            quote_expiry_height=10_000,
            created_at=now,
            updated_at=now,
        )
        inserted = await repo.insert(record, Cause.REQUEST, {"bench": True})
        await store.db.reservations.insert_one(
            {
                "_id": p["quote_id"].hex(),
                "tier": p["tier"],
                "amount_ustx": p["collateral"],
                "policy_id": inserted.id,
                "owner": p["owner"],
                "expires_burn_height": 10_000,
                "status": "held",
                "created_at": now,
                "updated_at": now,
                "reason": None,
            }
        )
    for i in range(0, len(events), 1000):
        await store.db.chain_events.insert_many(events[i : i + 1000])


async def snapshot(store: MongoStore) -> dict[str, list[dict[str, Any]]]:
    return {name: await store.db[name].find().sort("_id", 1).to_list(None) for name in COLLECTIONS}


async def raw_write(store: MongoStore, final: dict[str, list[dict[str, Any]]]) -> float:
    """One unordered bulk_write per collection of the apply's resulting documents; returns the seconds taken."""
    started = time.perf_counter()
    existing = {
        name: {d["_id"] for d in await store.db[name].find({}, {"_id": 1}).to_list(None)} for name in COLLECTIONS
    }
    requests_by_collection = {
        name: [
            ReplaceOne({"_id": doc["_id"]}, doc) if doc["_id"] in existing[name] else InsertOne(doc)
            for doc in final[name]
        ]
        for name in COLLECTIONS
    }
    started = time.perf_counter()  # the reads above decide insert vs replace; only the writes are timed
    for name, requests in requests_by_collection.items():
        for i in range(0, len(requests), 1000):
            try:
                await store.db[name].bulk_write(requests[i : i + 1000], ordered=False)
            except BulkWriteError as exc:
                first = exc.details.get("writeErrors", [{}])[0].get("errmsg")
                raise RuntimeError(f"raw bulk_write into {name} failed: {first}") from None
    return time.perf_counter() - started


def _comparable(state: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    return {name: sorted(repr(sorted(d.items())) for d in docs) for name, docs in state.items()}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report = Report("ingest", "smoke" if args.smoke else "full")
    history = History(args.events)
    say(f"history: {history.n_events} events in {len(history.txs)} transactions, {history.next_id - 1} policies")
    modes = {"sync-on-commit": DURABLE}
    if args.compare_sync:
        modes["no-sync"] = Durability(sync_on_commit=False)
    for mode, durability in modes.items():
        say(f"database: {mode}")
        await run_mode(report, history, durability, mode if args.compare_sync else None)
    if args.compare_sync:
        rate = {row["database"]: row["apply_events_per_s"] for row in report.rows}
        report.note(f"--sync-on-commit costs {1 - rate['sync-on-commit'] / rate['no-sync']:.0%} of the apply rate")
    return report.emit()


async def run_mode(report: Report, history: History, durability: Durability, label: str | None) -> None:
    with workdir("ingest") as tmp, secantus(tmp, durability=durability) as mongo:
        applied_store = MongoStore(mongo.uri, "bench_ingest_apply")
        raw_store = MongoStore(mongo.uri, "bench_ingest_raw")
        async with StacksApiClient("http://127.0.0.1:9") as unused_client:  # the apply loop never calls the chain
            listener = ChainListener(
                applied_store, unused_client, ListenerConfig(REGISTRY, VAULT, confirmations=1), Unfenced()
            )
            events = event_documents(listener, history)
            await prepare(applied_store, history, events)
            await raw_store.ensure_indexes()
            for name, docs in (await snapshot(applied_store)).items():  # the same starting state, same ids
                for i in range(0, len(docs), 1000):
                    await raw_store.db[name].insert_many(docs[i : i + 1000])
            say("both databases prepared; replaying through the listener's apply loop")
            top = max(e["block_height"] for e in events)
            tip = StacksTip(
                block_height=top, block_hash=f"0x{top:064x}", index_block_hash=None, burn_block_height=top + 1
            )
            poll = PollReport()
            started = time.perf_counter()
            await listener._apply_confirmed(tip, poll)
            apply_s = time.perf_counter() - started
        final = await snapshot(applied_store)
        outcomes: dict[str, int] = {}
        for doc in final["chain_events"]:
            outcomes[doc["outcome"]] = outcomes.get(doc["outcome"], 0) + 1
        if outcomes != {"applied": len(events)}:
            raise AssertionError(f"not every event applied: {outcomes}")
        say(f"applied {poll.applied} events in {apply_s:.1f}s; writing the same documents raw")
        raw_s = await raw_write(raw_store, final)
        if _comparable(await snapshot(raw_store)) != _comparable(final):
            raise AssertionError("the raw database does not hold the applied state")
        written = sum(len(v) for v in final.values())
        await applied_store.close()
        await raw_store.close()
    n = len(events)
    report.add(
        **({"database": label} if label else {}),
        events=n,
        policies=history.next_id - 1,
        apply_s=round(apply_s, 2),
        apply_events_per_s=round(n / apply_s, 1),
        raw_bulk_s=round(raw_s, 2),
        raw_events_per_s=round(n / raw_s, 1),
        ratio=round((n / apply_s) / (n / raw_s), 3),
        documents_written_raw=written,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--events", type=int)
    parser.add_argument("--compare-sync", action="store_true", help="also run without --sync-on-commit")
    args = parser.parse_args(argv)
    args.events = args.events or (60 if args.smoke else 10_000)
    return asyncio.run(run(args))


if __name__ == "__main__":
    main()
