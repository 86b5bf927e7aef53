"""The listener, the creation monitor, quote expiry and reconciliation against the real contracts on the devnet."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from policy_registry.embedded.secantus import EmbeddedMongo
from services.chain import (
    TESTNET,
    BackendSigner,
    ClarityOk,
    NonceManager,
    QuoteTerms,
    StacksApiClient,
    monitor_transaction,
    sign_and_broadcast_contract_call,
    sign_quote,
    to_python,
    uint_cv,
)
from services.chain.clarity import ResponseOk, principal_cv, string_ascii_cv
from services.core.fencing import Unfenced
from services.core.models import PolicyRecord
from services.core.status import Cause, StatusDetailed
from services.jobs.reconciliation import Reconciler
from services.jobs.tx_monitor import CreationTxMonitor, QuoteExpiryJob
from services.listener.poller import ChainListener, ListenerConfig
from services.store.documents import new_policy_id
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from tests.documents import found
from tests.fixtures.creation import signed_creation_tx
from tests.fixtures.devnet import DevnetFixture

pytestmark = pytest.mark.devnet
S = StatusDetailed
PREMIUM = 1_200_000
COLLATERAL = 30_000_000
STRIKE = 6_400_000_000_000
SATS = 20_000_000


@pytest.fixture
async def client(devnet: DevnetFixture) -> AsyncIterator[StacksApiClient]:
    async with StacksApiClient(devnet.url) as api:
        yield api


def listener_for(
    store: MongoStore, client: StacksApiClient, devnet: DevnetFixture, confirmations: int = 1
) -> ChainListener:
    config = ListenerConfig(devnet.registry, devnet.vault, confirmations=confirmations)
    return ChainListener(store, client, config, Unfenced())


async def sync(listener: ChainListener) -> None:
    report = await listener.poll_once()
    assert report.error is None, report.error


async def signed_quote(
    devnet: DevnetFixture,
    client: StacksApiClient,
    owner: str,
    *,
    expiry_in: int = 5,
    tier: str = "Balanced",
    expires_in: int = 100_000,  # far out by default: no other test's expiration check ever sees them
) -> tuple[QuoteTerms, bytes]:
    burn = (await client.get_tip()).burn_block_height
    terms = QuoteTerms(
        registry=devnet.registry,
        quote_id=os.urandom(16),
        owner=owner,
        protected_value_usd8=STRIKE,
        protected_amount_sats=SATS,
        expiration_height=burn + expires_in,
        policy_type="PUT",
        premium_ustx=PREMIUM,
        collateral_ustx=COLLATERAL,
        risk_tier=tier,
        quote_expiry_height=burn + expiry_in,
    )
    return terms, sign_quote(devnet.quote_private_key, terms)


async def store_pending(store: MongoStore, terms: QuoteTerms, vault: str, tx_id: str | None = None) -> PolicyRecord:
    """What requestPolicyCreation stores: the PendingCreation policy and its held reservation."""
    now = datetime.now(UTC).replace(microsecond=0)
    record = PolicyRecord(
        id=new_policy_id(),
        owner=terms.owner,
        counterparty=vault,
        protected_value_usd8=terms.protected_value_usd8,
        protected_amount_sats=terms.protected_amount_sats,
        expiration_height=terms.expiration_height,
        risk_tier=terms.risk_tier,
        premium_ustx=terms.premium_ustx,
        collateral_ustx=terms.collateral_ustx,
        status_detailed=S.PendingCreation,
        quote_id=terms.quote_id.hex(),
        quote_expiry_height=terms.quote_expiry_height,
        tx_id_creation=tx_id,
        created_at=now,
        updated_at=now,
    )
    policy = await PolicyRepository(store).insert(record, Cause.REQUEST)
    await store.db.reservations.insert_one(
        {
            "_id": terms.quote_id.hex(),
            "tier": terms.risk_tier,
            "amount_ustx": terms.collateral_ustx,
            "policy_id": policy.id,
            "owner": terms.owner,
            "expires_burn_height": terms.quote_expiry_height,
            "status": "held",
            "created_at": now,
            "updated_at": now,
            "reason": None,
        }
    )
    return policy


async def vault_tier(client: StacksApiClient, devnet: DevnetFixture, tier: str) -> dict[str, Any]:
    value = to_python(
        await client.call_read_only(
            devnet.vault, "get-tier", [string_ascii_cv(tier)], sender=devnet.registry.split(".")[0]
        )
    )
    assert isinstance(value, ResponseOk)
    result: dict[str, Any] = value.value
    return result


MIRRORED = ("capital_ustx", "locked_ustx", "pending_premiums_ustx", "premiums_ustx", "settlements_ustx")


async def assert_mirror_matches_vault(store: MongoStore, client: StacksApiClient, devnet: DevnetFixture) -> None:
    """The tier mirror, kept from events alone since the chain's start, equals the vault's own totals."""
    for tier in ("Conservative", "Balanced", "Aggressive"):
        mirror = await store.db.tiers.find_one({"_id": tier})
        assert mirror is not None, tier
        chain_tier = await vault_tier(client, devnet, tier)
        assert {f: mirror[f] for f in MIRRORED} == {f: chain_tier[f.replace("_", "-")] for f in MIRRORED}, tier


async def test_the_creation_path_ends_active_then_reconciliation_and_the_event_settle_it(
    devnet: DevnetFixture, client: StacksApiClient, store: MongoStore
) -> None:
    buyer = BackendSigner.from_hex(devnet.accounts["wallet_2"].private_key, TESTNET)
    terms, signature = await signed_quote(devnet, client, buyer.address)
    nonce = (await client.get_nonces(buyer.address)).possible_next_nonce
    pending = await store_pending(store, terms, devnet.vault)
    txid = await client.broadcast_transaction(signed_creation_tx(terms, signature, buyer, nonce))
    repo = PolicyRepository(store)
    await store.db.policies.update_one({"_id": ObjectId(pending.id)}, {"$set": {"tx_id_creation": txid}})  # submit…Tx

    monitor = CreationTxMonitor(store, client, confirmations=1)
    assert await monitor.run_once(Unfenced()) == 0  # pending: nothing to do
    await devnet.amine()
    outcome = await monitor_transaction(client, txid, timeout=5, poll_interval=0.05)
    assert outcome.state == "success" and isinstance(outcome.result, ClarityOk)
    onchain_id = to_python(outcome.result.value)

    listener = listener_for(store, client, devnet, confirmations=1)
    await sync(listener)
    assert (await repo.require(pending.id)).status_detailed is S.PendingCreation  # not confirmed yet
    await devnet.amine(blocks=0, burn_blocks=1)
    await sync(listener)
    active = await repo.require(pending.id)
    assert active.status_detailed is S.Active and active.status_onchain == 0
    assert active.policy_id_onchain == onchain_id and active.tx_id_creation == txid
    assert (active.creation_height, active.creation_burn_height) == (outcome.block_height, outcome.burn_block_height)
    assert active.counterparty == devnet.vault and active.failure_reason is None
    assert found(await store.db.reservations.find_one({"_id": terms.quote_id.hex()}))["status"] == "converted"
    assert await monitor.run_once(Unfenced()) == 0

    # the backend settles it on chain; reconciliation sees it first (the listener is not run meanwhile)
    backend = BackendSigner.from_hex(devnet.accounts["backend"].private_key, TESTNET)
    sent = await sign_and_broadcast_contract_call(
        client,
        backend,
        NonceManager(client, backend.address),
        contract_id=devnet.registry,
        function_name="update-policy-status",
        function_args=[uint_cv(onchain_id), uint_cv(1), uint_cv(COLLATERAL // 3), uint_cv(STRIKE // 2)],
    )
    await devnet.amine()
    assert (await monitor_transaction(client, sent.txid, timeout=5, poll_interval=0.05)).state == "success"
    reconciler = Reconciler(store, client, devnet.registry, confirmations=1)
    assert await reconciler.run_once(Unfenced()) == 0  # the change is not confirmed yet: not drift
    await devnet.amine(blocks=0, burn_blocks=1)
    assert await reconciler.run_once(Unfenced()) == 1
    settled = await repo.require(pending.id)
    assert settled.status_detailed is S.Settled and settled.status_onchain == 1
    assert (settled.settlement_ustx, settled.settlement_price_usd8) == (COLLATERAL // 3, STRIKE // 2)
    assert (await repo.history(pending.id))[-1].cause == "reconcile"
    assert found(await store.db.chain_state.find_one({"_id": "reconciliation"}))["repairs_total"] == 1

    # the listener then applies the confirmed event: nothing to move, only the txid and time to fill in
    await sync(listener)
    final = await repo.require(pending.id)
    assert final.status_detailed is S.Settled and final.tx_id_status_update == sent.txid
    assert final.settled_at is not None
    await assert_mirror_matches_vault(store, client, devnet)


async def test_an_aborted_creation_and_a_lapsed_quote_fail_and_release_their_reservations(
    devnet: DevnetFixture, client: StacksApiClient, store: MongoStore
) -> None:
    buyer = BackendSigner.from_hex(devnet.accounts["wallet_3"].private_key, TESTNET)
    terms, signature = await signed_quote(devnet, client, buyer.address, expiry_in=1)
    nonce = (await client.get_nonces(buyer.address)).possible_next_nonce
    txid = await client.broadcast_transaction(signed_creation_tx(terms, signature, buyer, nonce))
    doomed = await store_pending(store, terms, devnet.vault, tx_id=txid)
    lapsed_terms, _ = await signed_quote(devnet, client, buyer.address, expiry_in=0)
    lapsed = await store_pending(store, lapsed_terms, devnet.vault)

    await devnet.amine(blocks=0, burn_blocks=2)  # the quote expires before the tx is mined
    await devnet.amine()
    assert (await monitor_transaction(client, txid, timeout=5, poll_interval=0.05)).state == "failed"

    monitor = CreationTxMonitor(store, client, confirmations=1)
    assert await monitor.run_once(Unfenced()) == 1
    failed = await PolicyRepository(store).require(doomed.id)
    assert failed.status_detailed is S.FailedCreation
    assert failed.failure_reason == "abort_by_response: u106 quote-expired"
    assert found(await store.db.reservations.find_one({"_id": terms.quote_id.hex()}))["status"] == "released"

    expiry = QuoteExpiryJob(store, client, devnet.registry, confirmations=1)
    assert await expiry.run_once(Unfenced()) == 1
    gone = await PolicyRepository(store).require(lapsed.id)
    assert gone.status_detailed is S.FailedCreation and "with no transaction" in (gone.failure_reason or "")
    assert found(await store.db.reservations.find_one({"_id": lapsed_terms.quote_id.hex()}))["status"] == "released"
    history = await PolicyRepository(store).history(lapsed.id)
    assert [(h.to_status, h.cause) for h in history][-1] == (S.FailedCreation, "job")
    assert await expiry.run_once(Unfenced()) == 0 and await monitor.run_once(Unfenced()) == 0


async def second_store(mongo_server: EmbeddedMongo, name: str) -> MongoStore:
    other = MongoStore(mongo_server.uri, name, timeout_ms=3000)
    await other.ensure_indexes()
    return other


async def test_the_tier_mirror_matches_the_vault_after_every_kind_of_vault_event(
    devnet: DevnetFixture, client: StacksApiClient, store: MongoStore
) -> None:
    provider = BackendSigner.from_hex(devnet.accounts["wallet_4"].private_key, TESTNET)
    buyer = BackendSigner.from_hex(devnet.accounts["wallet_1"].private_key, TESTNET)
    backend = BackendSigner.from_hex(devnet.accounts["backend"].private_key, TESTNET)
    nonces = {s.address: NonceManager(client, s.address) for s in (provider, buyer, backend)}
    listener = listener_for(store, client, devnet, confirmations=1)

    async def confirmed(signer: BackendSigner, contract: str, function: str, args: list[Any]) -> Any:
        sent = await sign_and_broadcast_contract_call(
            client, signer, nonces[signer.address], contract_id=contract, function_name=function, function_args=args
        )
        await devnet.amine()
        outcome = await monitor_transaction(client, sent.txid, timeout=5, poll_interval=0.05)
        assert outcome.state == "success", (function, outcome)
        await devnet.amine(blocks=0, burn_blocks=1)
        await sync(listener)
        await assert_mirror_matches_vault(store, client, devnet)
        assert isinstance(outcome.result, ClarityOk)
        return to_python(outcome.result.value)

    async def create(expires_in: int) -> int:
        terms, signature = await signed_quote(devnet, client, buyer.address, tier="Aggressive", expires_in=expires_in)
        txid = await client.broadcast_transaction(
            signed_creation_tx(terms, signature, buyer, await nonces[buyer.address].next_nonce())
        )
        await devnet.amine()
        outcome = await monitor_transaction(client, txid, timeout=5, poll_interval=0.05)
        assert outcome.state == "success" and isinstance(outcome.result, ClarityOk), outcome
        await devnet.amine(blocks=0, burn_blocks=1)
        await sync(listener)
        await assert_mirror_matches_vault(store, client, devnet)  # collateral locked, premium pending
        return int(to_python(outcome.result.value))

    await devnet.amine(blocks=0, burn_blocks=1)  # everything before this test confirmed, whatever ran first
    await sync(listener)
    await assert_mirror_matches_vault(store, client, devnet)
    await confirmed(provider, devnet.vault, "deposit", [string_ascii_cv("Aggressive"), uint_cv(2 * COLLATERAL)])
    settled = await create(expires_in=100_000)
    await confirmed(
        backend, devnet.registry, "update-policy-status", [uint_cv(settled), uint_cv(1), uint_cv(7), uint_cv(1)]
    )
    expiring = await create(expires_in=3)
    await devnet.amine(blocks=0, burn_blocks=3)
    await confirmed(
        backend, devnet.registry, "update-policy-status", [uint_cv(expiring), uint_cv(2), uint_cv(0), uint_cv(0)]
    )
    balance = to_python(
        await client.call_read_only(
            devnet.vault,
            "get-provider-balance",
            [string_ascii_cv("Aggressive"), principal_cv(provider.address)],
            sender=provider.address,
        )
    )
    assert isinstance(balance, ResponseOk) and balance.value["withdrawable-ustx"] > 0
    await confirmed(
        provider, devnet.vault, "withdraw", [string_ascii_cv("Aggressive"), uint_cv(balance.value["withdrawable-ustx"])]
    )
