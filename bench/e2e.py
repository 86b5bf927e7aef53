"""End-to-end benchmark: a devnet block holding a `policy-created` event → a GraphQL subscriber receives the policy
as Active. The whole path: the local devnet (real contracts in the Clarinet simnet, Hiro API surface) → the chain
listener in the API process (RUN_WORKER) polling every LISTENER_POLL_INTERVAL_S → MongoDB → the API's change
stream → `policiesUpdated(owner)` over `graphql-transport-ws`.

    python -m bench.e2e             # full: 100 policies, poll interval 0.5 s
    python -m bench.e2e --smoke     # 2 policies (the test suite runs this)

For each policy: the buyer's signed creation transaction is broadcast, then one block is mined; the clock starts
when the devnet's mine call returns (the block exists) and stops when the subscriber receives the Active policy.
Side by side, the same run times when the Active policy document becomes visible in the database (a change stream
in this process): the difference is the API's share (change stream, fan-out, GraphQL, WebSocket); the rest is the
listener's (waiting for its next poll, reading the chain, applying the event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import defaultdict
from typing import Any

import coincurve

from bench.common import ROOT, Report, api_server, percentile, say, secantus, workdir
from policy_registry.embedded.devnet import LocalDevnet
from services.chain import (
    TESTNET,
    BackendSigner,
    ClarityOk,
    QuoteTerms,
    StacksApiClient,
    make_contract_call,
    sign_quote,
    stx_post_condition,
    to_python,
)
from services.store.mongo import MongoStore

PREMIUM = 1_200_000
COLLATERAL = 30_000_000
STRIKE = 6_400_000_000_000
SATS = 20_000_000


async def creation_tx(
    client: StacksApiClient, devnet: LocalDevnet, quote_key: bytes, buyer: BackendSigner, tier: str
) -> bytes:
    burn = (await client.get_tip()).burn_block_height
    terms = QuoteTerms(
        registry=devnet.contracts["policy_registry"],
        quote_id=os.urandom(16),
        owner=buyer.address,
        protected_value_usd8=STRIKE,
        protected_amount_sats=SATS,
        expiration_height=burn + 500,
        policy_type="PUT",
        premium_ustx=PREMIUM,
        collateral_ustx=COLLATERAL,
        risk_tier=tier,
        quote_expiry_height=burn + 20,
    )
    address, name = terms.registry.split(".")
    nonce = (await client.get_nonces(buyer.address)).possible_next_nonce
    tx = make_contract_call(
        contract_address=address,
        contract_name=name,
        function_name="create-policy-entry",
        function_args=terms.entry_args(sign_quote(quote_key, terms)),
        signer=buyer,
        nonce=nonce,
        fee=3_000,
        network=TESTNET,
        post_conditions=[stx_post_condition("origin", "eq", PREMIUM)],
    )
    return tx.serialize()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    report = Report("e2e", "smoke" if args.smoke else "full")
    quote_key = coincurve.PrivateKey()
    with workdir("e2e") as tmp, secantus(tmp) as mongo:
        devnet = LocalDevnet(
            block_interval=0,
            burn_ratio=1,
            quote_signer_pubkey=quote_key.public_key.format(compressed=True).hex(),
            tier_capital=10**13,
            log_path=tmp / "devnet.log",
        )
        with devnet:
            assert devnet.url is not None
            database = "bench_e2e"
            env = {
                "STACKS_API_URL": devnet.url,
                "REGISTRY_CONTRACT_ID": devnet.contracts["policy_registry"],
                "VAULT_CONTRACT_ID": devnet.contracts["liquidity_pool_vault"],
                "RUN_WORKER": "true",
                "LISTENER_POLL_INTERVAL_S": str(args.poll_interval),
                "CHAIN_CONFIRMATIONS": str(args.confirmations),
            }
            buyer = BackendSigner.from_hex(devnet.accounts["wallet_1"].private_key, TESTNET)
            with api_server(mongo.uri, database, tmp, ROOT, **env) as api:
                store = MongoStore(mongo.uri, database)
                ws_url = api.url.replace("http://", "ws://") + "/graphql"
                received: dict[int, float] = {}
                visible: dict[int, float] = {}
                arrivals: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)
                query = "subscription($o: String!) { policiesUpdated(owner: $o) { id policyIdOnChain statusDetailed } }"
                async with (
                    StacksApiClient(devnet.url) as client,
                    connect(
                        ws_url,
                        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                    ) as ws,
                ):
                    await ws.send(json.dumps({"type": "connection_init"}))
                    await ws.recv()
                    await ws.send(
                        json.dumps(
                            {
                                "id": "1",
                                "type": "subscribe",
                                "payload": {"query": query, "variables": {"o": buyer.address}},
                            }
                        )
                    )

                    async def read_ws() -> None:
                        async for raw in ws:
                            now = time.monotonic()
                            message = json.loads(raw)
                            node = (message.get("payload", {}).get("data") or {}).get("policiesUpdated")
                            if node and node["statusDetailed"] == "Active":
                                received.setdefault(int(node["policyIdOnChain"]), now)
                                arrivals[int(node["policyIdOnChain"])].set()

                    async def watch_db() -> None:
                        pipeline = [{"$match": {"fullDocument.status_detailed": "Active"}}]
                        async with await store.db.policies.watch(pipeline, full_document="updateLookup") as stream:
                            async for change in stream:
                                doc = change.get("fullDocument") or {}
                                if doc.get("policy_id_onchain") is not None:
                                    visible.setdefault(int(doc["policy_id_onchain"]), time.monotonic())

                    readers = [asyncio.create_task(read_ws()), asyncio.create_task(watch_db())]
                    await asyncio.sleep(1.0)  # the subscription and the watch are registered
                    mined_at: dict[int, float] = {}
                    tiers = ("Conservative", "Balanced", "Aggressive")
                    for i in range(args.policies):
                        raw = await creation_tx(client, devnet, quote_key.secret, buyer, tiers[i % 3])
                        txid = await client.broadcast_transaction(raw)
                        await devnet.amine(1, 0)
                        t_mined = time.monotonic()
                        info = await client.get_transaction(txid)
                        if info.tx_status != "success":
                            raise RuntimeError(
                                f"creation {i} did not succeed: {info.tx_status} {info.raw.get('tx_result')}"
                            )
                        result = info.result
                        if not isinstance(result, ClarityOk):
                            raise RuntimeError(f"creation {i} returned {result}")
                        onchain = int(to_python(result.value))
                        mined_at[onchain] = t_mined
                        try:
                            await asyncio.wait_for(arrivals[onchain].wait(), timeout=30)
                        except TimeoutError:
                            raise RuntimeError(f"policy {onchain} never reached the subscriber") from None
                    for task in readers:
                        task.cancel()
                    await asyncio.gather(*readers, return_exceptions=True)
                await store.close()
    ws_ms = [(received[k] - t) * 1000 for k, t in mined_at.items()]
    db_ms = [(visible[k] - t) * 1000 for k, t in mined_at.items() if k in visible]
    report.add(
        policies=len(ws_ms),
        poll_interval_s=args.poll_interval,
        confirmations=args.confirmations,
        subscriber_p50_ms=round(percentile(ws_ms, 50), 1),
        subscriber_p99_ms=round(percentile(ws_ms, 99), 1),
        db_visible_p50_ms=round(percentile(db_ms, 50), 1),
        db_visible_p99_ms=round(percentile(db_ms, 99), 1),
        api_share_p50_ms=round(percentile(ws_ms, 50) - percentile(db_ms, 50), 1),
    )
    say("done")
    return report.emit()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--policies", type=int)
    parser.add_argument("--poll-interval", type=float, default=0.5, help="LISTENER_POLL_INTERVAL_S (default 0.5)")
    parser.add_argument(
        "--confirmations", type=int, default=0, help="CHAIN_CONFIRMATIONS (default 0: the block itself applies)"
    )
    args = parser.parse_args(argv)
    args.policies = args.policies or (2 if args.smoke else 100)
    return asyncio.run(run(args))


if __name__ == "__main__":
    main()
