"""Policy creation end to end on the devnet: quote → request → a wallet signs the prepared call → the real
`create-policy-entry` accepts it and prints the expected event. Signed once by the service's own chain layer and
once by @stacks/transactions in Node (an independent wallet)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from policy_registry.container import Services
from policy_registry.settings import Settings
from services.chain import TESTNET, BackendSigner, to_python
from services.chain.clarity import ClarityUInt, ResponseErr, deserialize
from services.chain.transactions import PreparedContractCall
from services.core.errors import BadInput, Conflict, InsufficientCapacity
from services.core.status import StatusDetailed
from services.liquidity.service import HELD
from services.oracle import Asset
from services.policies.quotes import PolicyParameters
from tests.fixtures.devnet import DevnetFixture

pytestmark = pytest.mark.devnet
ROOT = Path(__file__).resolve().parents[2]
FEE = 10_000
STRIKE = 9_500_000_000_000  # $95,000 with BTC at the local feed's $100,000: the Conservative tier


@pytest.fixture
async def chain_services(devnet: DevnetFixture, mongo_server: Any, db_name: str) -> AsyncIterator[Services]:
    settings = Settings(
        _env_file=None,
        mongodb_database=db_name,
        stacks_api_url=devnet.url,
        quote_key=devnet.quote_private_key.hex(),
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
        # These tests push a tier's capacity with one wallet; the per-wallet share is tests/security's subject.
        max_wallet_tier_share_ppm=1_000_000,
    )
    services = await Services.create(settings, mongo_server.uri)
    assert services.local_prices is not None and services.chain is not None
    await services.local_prices.load()
    await services.oracle.refresh()
    await services.liquidity.sync_from_chain(services.chain, devnet.vault)
    yield services
    await services.store.client.drop_database(db_name)
    await services.close()


def params(sats: int = 10_000_000, strike: int = STRIKE, days: int = 30) -> PolicyParameters:
    return PolicyParameters("PUT", sats, strike, days)


async def python_wallet(
    services: Services, devnet: DevnetFixture, wallet: str, call: PreparedContractCall, args: Any = None
) -> str:
    assert services.chain is not None
    signer = BackendSigner.from_hex(devnet.accounts[wallet].private_key, TESTNET)
    nonce = (await services.chain.get_nonces(signer.address)).possible_next_nonce
    signed = call if args is None else replace(call, function_args=tuple(args))  # args: a tampered call
    tx = signed.sign(signer, nonce, FEE)
    return await services.chain.broadcast_transaction(tx.serialize())


async def node_wallet(services: Services, devnet: DevnetFixture, wallet: str, prepared: dict[str, Any]) -> str:
    assert services.chain is not None
    account = devnet.accounts[wallet]
    nonce = (await services.chain.get_nonces(account.address)).possible_next_nonce
    payload = json.dumps({"prepared": prepared, "privateKey": account.private_key, "nonce": nonce, "fee": FEE})
    out = await asyncio.to_thread(
        subprocess.run,
        ["node", str(ROOT / "tests/integration/wallet_sign.mjs")],
        input=payload,
        text=True,
        capture_output=True,
        check=True,
        env={**os.environ, "CONTRACTS_DIR": str(ROOT / "contracts")},
    )
    signed = json.loads(out.stdout)
    txid = await services.chain.broadcast_transaction(bytes.fromhex(signed["hex"]))
    assert txid == "0x" + signed["txid"].removeprefix("0x")
    return txid


async def mined(services: Services, devnet: DevnetFixture, txid: str) -> Any:
    assert services.chain is not None
    await devnet.amine(1)
    info = await services.chain.get_transaction(txid)
    assert info.tx_status != "pending"
    return info


def created_event(info: Any) -> dict[str, Any]:
    for event in info.raw["events"]:
        if event.get("event_type") == "smart_contract_log":
            value = to_python(deserialize(event["contract_log"]["value"]["hex"]))
            if value.get("event") == "policy-created":
                return dict(value)
    raise AssertionError("no policy-created event")


async def test_created_on_chain_with_the_python_and_the_node_wallet(
    chain_services: Services, devnet: DevnetFixture
) -> None:
    services = chain_services
    assert services.creation is not None
    for wallet, signer in (("wallet_1", "python"), ("wallet_2", "node")):
        owner = devnet.accounts[wallet].address
        result = await services.creation.request_creation(owner, params(), f"key-{wallet}")
        policy, call = result.policy, result.transaction
        assert policy.status_detailed is StatusDetailed.PendingCreation and policy.owner == owner
        prepared = call.to_wallet_json()
        assert prepared["postConditionMode"] == "deny"
        assert prepared["postConditions"] == [
            {"type": "stx-postcondition", "address": owner, "condition": "eq", "amount": str(policy.premium_ustx)}
        ]
        if signer == "python":
            txid = await python_wallet(services, devnet, wallet, call)
        else:
            txid = await node_wallet(services, devnet, wallet, prepared)
        info = await mined(services, devnet, txid)
        assert info.tx_status == "success", info.raw.get("tx_result")
        # The devnet compares the transfers with the post-conditions the API prepared: they match.
        assert not info.raw.get("post_condition_mismatch"), info.raw.get("post_condition_mismatch")
        event = created_event(info)
        assert event["owner"] == owner and event["quote-id"] == bytes.fromhex(policy.quote_id or "")
        assert event["premium-ustx"] == policy.premium_ustx and event["collateral-ustx"] == policy.collateral_ustx
        assert event["protected-value-usd8"] == STRIKE and event["protected-amount-sats"] == 10_000_000
        assert event["expiration-height"] == policy.expiration_height and event["risk-tier"] == "Conservative"
        assert event["counterparty"] == devnet.vault
        stx_transfers = [e for e in info.raw["events"] if e.get("event_type") == "stx_asset"]
        assert [
            (t["asset"]["sender"], t["asset"]["recipient"], int(t["asset"]["amount"]))
            for t in stx_transfers
            if t["asset"]["sender"] == owner
        ] == [(owner, devnet.vault, policy.premium_ustx)]
        updated = await services.creation.submit_creation_tx(owner, policy.id, txid)
        assert updated.tx_id_creation == txid and updated.version == 1


async def test_tampered_premium_and_reused_quote_are_refused_on_chain(
    chain_services: Services, devnet: DevnetFixture
) -> None:
    services = chain_services
    assert services.creation is not None
    owner = devnet.accounts["wallet_3"].address
    result = await services.creation.request_creation(owner, params(sats=2_000_000), "tamper")
    args = list(result.transaction.function_args)
    args[5] = ClarityUInt(result.policy.premium_ustx - 1)  # pay a micro-STX less than quoted
    info = await mined(services, devnet, await python_wallet(services, devnet, "wallet_3", result.transaction, args))
    assert info.tx_status == "abort_by_response" and to_python(info.result) == ResponseErr(108)
    info = await mined(services, devnet, await python_wallet(services, devnet, "wallet_3", result.transaction))
    assert info.tx_status == "success"
    info = await mined(services, devnet, await python_wallet(services, devnet, "wallet_3", result.transaction))
    assert info.tx_status == "abort_by_response" and to_python(info.result) == ResponseErr(107)


async def test_idempotency_key_returns_the_same_result(chain_services: Services, devnet: DevnetFixture) -> None:
    services = chain_services
    assert services.creation is not None
    owner = devnet.accounts["wallet_4"].address
    first = await services.creation.request_creation(owner, params(), "same-key")
    again = await services.creation.request_creation(owner, params(), "same-key")
    assert again.repeated and again.policy.id == first.policy.id
    assert again.transaction.to_wallet_json() == first.transaction.to_wallet_json()
    assert again.quote.premium_usd8 == first.quote.premium_usd8
    with pytest.raises(Conflict):
        await services.creation.request_creation(owner, params(sats=20_000_000), "same-key")
    racing = await asyncio.gather(*[services.creation.request_creation(owner, params(), "race") for _ in range(5)])
    assert len({r.policy.id for r in racing}) == 1
    assert await services.store.db.policies.count_documents({"owner": owner}) == 2


async def test_a_stored_quote_locks_its_numbers_in_once(chain_services: Services, devnet: DevnetFixture) -> None:
    services = chain_services
    assert services.creation is not None and services.quotes is not None
    owner = devnet.accounts["wallet_1"].address
    quote = await services.quotes.quote(params(days=7))
    assert services.local_prices is not None
    await services.local_prices.set_price(Asset.BTC_USD, 9_000_000_000_000)  # the market moves afterwards
    await services.oracle.refresh()
    created = await services.creation.request_creation(owner, params(days=7), "locked", quote_id=quote.quote_id)
    assert created.policy.premium_ustx == quote.premium_ustx and created.quote.btc_usd8 == 10_000_000_000_000
    with pytest.raises(Conflict):
        await services.creation.request_creation(owner, params(days=7), "locked-again", quote_id=quote.quote_id)
    with pytest.raises(BadInput):
        await services.creation.request_creation(owner, params(days=8), "other", quote_id=quote.quote_id)
    await services.local_prices.set_price(Asset.BTC_USD, 10_000_000_000_000)
    await services.oracle.refresh()


async def test_concurrent_requests_never_reserve_more_than_a_tier_holds(
    chain_services: Services, devnet: DevnetFixture
) -> None:
    services = chain_services
    assert services.creation is not None and services.quotes is not None and services.tip is not None
    burn = await services.tip.burn_height()
    free = (await services.liquidity.availability(burn))[0].available_ustx  # Conservative
    probe = await services.quotes.quote(params(sats=100_000_000), store=False)
    sats = 100_000_000 * free // (probe.collateral_ustx * 3) + 1  # each needs a bit over a third of the tier
    owner = devnet.accounts["wallet_2"].address
    outcomes = await asyncio.gather(
        *[services.creation.request_creation(owner, params(sats=sats), f"cap-{i}") for i in range(6)],
        return_exceptions=True,
    )
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 2 and all(isinstance(o, InsufficientCapacity) for o in refused), outcomes
    reserved = (await services.liquidity.availability(burn))[0].reserved_ustx
    assert reserved == sum(w.policy.collateral_ustx for w in won) <= free
    assert await services.store.db.reservations.count_documents({"status": HELD}) == 2
    assert await services.store.db.policies.count_documents({}) == 2  # the refused ones wrote nothing
