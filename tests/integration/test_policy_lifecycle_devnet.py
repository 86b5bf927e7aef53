"""Activation and expiration on the devnet: the listener, the backend transaction queue and the real contracts.

Create → price drops (local feed) → activate → Settled with the owner paid exactly the settlement; refusals
(out of the money, not the owner, expired); expiry after mining past the height; an on-chain abort → Failed* →
operator retry → success; a "crash" between broadcast and confirmation sends nothing twice; two concurrent
activations make one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from policy_registry.container import Services
from policy_registry.settings import Settings
from services.backend_txs import BackendTxSender
from services.chain import TESTNET, BackendSigner, make_contract_call, principal_cv
from services.chain.clarity import ResponseOk, string_ascii_cv, to_python, uint_cv
from services.core.errors import ActivationConditionNotMet, Conflict, Forbidden
from services.core.fencing import Unfenced
from services.core.models import PolicyRecord
from services.core.status import StatusDetailed
from services.listener.poller import ChainListener, ListenerConfig
from services.oracle import Asset
from services.policies.backend_outcomes import PolicyBackendOutcomes
from services.policies.quotes import PolicyParameters
from tests.fixtures.devnet import DevnetFixture

pytestmark = pytest.mark.devnet
S = StatusDetailed
FEE = 10_000
STRIKE = 9_500_000_000_000


class Harness:
    """The service's lifecycle by hand on the devnet; `registry` / `vault` name another deployment of the contracts
    (default: the devnet's own)."""

    def __init__(
        self, services: Services, devnet: DevnetFixture, registry: str | None = None, vault: str | None = None
    ) -> None:
        self.services = services
        self.devnet = devnet
        self.registry = registry or devnet.registry
        self.vault = vault or devnet.vault
        assert services.chain is not None
        self.chain = services.chain
        self.listener = ChainListener(
            services.store, services.chain, ListenerConfig(self.registry, self.vault, confirmations=0), Unfenced()
        )
        self.created = 0

    async def sync(self) -> None:
        report = await self.listener.poll_once()
        assert report.error is None, report.error

    async def send(
        self, wallet: str, contract: str, function: str, args: list[Any], pcs: Any = (), mode: Any = None
    ) -> str:
        signer = BackendSigner.from_hex(self.devnet.accounts[wallet].private_key, TESTNET)
        nonce = (await self.chain.get_nonces(signer.address)).possible_next_nonce
        address, name = contract.split(".")
        kwargs = {"post_condition_mode": mode} if mode is not None else {}
        tx = make_contract_call(
            contract_address=address,
            contract_name=name,
            function_name=function,
            function_args=args,
            signer=signer,
            nonce=nonce,
            fee=FEE,
            network=TESTNET,
            post_conditions=pcs,
            **kwargs,
        )
        return await self.chain.broadcast_transaction(tx.serialize())

    async def mine(self, blocks: int = 1, burn_blocks: int = 0) -> None:
        await self.devnet.amine(blocks, burn_blocks)

    async def create_active(self, wallet: str, days: int = 30, sats: int = 10_000_000) -> PolicyRecord:
        creation = self.services.creation
        assert creation is not None
        owner = self.devnet.accounts[wallet].address
        self.created += 1
        result = await creation.request_creation(
            owner, PolicyParameters("PUT", sats, STRIKE, days), f"{wallet}-{self.created}"
        )
        call = result.transaction
        await self.send(
            wallet,
            f"{call.contract_address}.{call.contract_name}",
            call.function_name,
            list(call.function_args),
            call.post_conditions,
            call.post_condition_mode,
        )
        await self.mine()
        await self.sync()
        policy = await self.services.policies.require(result.policy.id)
        assert policy.status_detailed is S.Active and policy.policy_id_onchain is not None
        return policy

    async def set_btc(self, price_usd8: int) -> None:
        assert self.services.local_prices is not None
        await self.services.local_prices.set_price(Asset.BTC_USD, price_usd8)
        await self.services.oracle.refresh()

    async def balance(self, wallet: str) -> int:
        return (await self.chain.get_account(self.devnet.accounts[wallet].address)).balance

    async def settle_round(self, queue: BackendTxSender | None = None) -> None:
        """The worker's loop, by hand: send, mine, follow, apply the event."""
        queue = queue or self.services.backend_sender
        assert queue is not None
        await queue.process_once()
        await self.mine()
        await queue.process_once()
        await self.sync()

    async def policy_lock(self, policy: PolicyRecord) -> Any:
        """The vault's lock for this policy (the shared devnet's tier totals move with other tests' policies)."""
        value = to_python(
            await self.chain.call_read_only(
                self.vault,
                "get-policy-lock",
                [uint_cv(policy.policy_id_onchain or 0)],
                sender=self.devnet.accounts["deployer"].address,
            )
        )
        return value

    async def chain_tier(self, tier: str) -> dict[str, int]:
        value = to_python(
            await self.chain.call_read_only(
                self.vault, "get-tier", [string_ascii_cv(tier)], sender=self.devnet.accounts["deployer"].address
            )
        )
        assert isinstance(value, ResponseOk)
        return value.value  # type: ignore[no-any-return]


@pytest.fixture
async def harness(devnet: DevnetFixture, mongo_server: Any, db_name: str) -> AsyncIterator[Harness]:
    settings = Settings(
        _env_file=None,
        mongodb_database=db_name,
        stacks_api_url=devnet.url,
        quote_key=devnet.quote_private_key.hex(),
        backend_key=devnet.accounts["backend"].private_key,
        registry_contract_id=devnet.registry,
        vault_contract_id=devnet.vault,
    )
    services = await Services.create(settings, mongo_server.uri)
    assert services.local_prices is not None and services.chain is not None
    await services.local_prices.load()
    await services.oracle.refresh()
    h = Harness(services, devnet)
    await h.sync()  # the vault's deposits and every earlier test's events: the tier mirror comes from the chain
    yield h
    await h.set_btc(10_000_000_000_000)
    await services.store.client.drop_database(db_name)
    await services.close()


async def test_full_lifecycle_settles_and_pays_exactly_the_settlement(harness: Harness) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None
    policy = await h.create_active("wallet_1")
    owner = policy.owner
    with pytest.raises(ActivationConditionNotMet) as not_met:
        await lifecycle.request_activation(owner, policy.policy_id_onchain or 0)
    assert not_met.value.details["priceUsd8"] == "10000000000000"
    await h.set_btc(9_000_000_000_000)  # $90,000: $5,000 below the strike
    with pytest.raises(Forbidden):
        await lifecycle.request_activation(h.devnet.accounts["wallet_2"].address, policy.policy_id_onchain or 0)
    before = await h.balance("wallet_1")
    settling = await lifecycle.request_activation(owner, policy.policy_id_onchain or 0)
    # ($95,000 − $90,000) × 0.1 BTC = $500 → 500 STX at $1, within the 10,450 STX collateral
    assert settling.status_detailed is S.Settling and settling.settlement_ustx == 500_000_000
    assert settling.settlement_price_usd8 == 9_000_000_000_000 and settling.oracle_snapshot_settlement is not None
    await h.settle_round()
    settled = await h.services.policies.require(policy.id)
    assert settled.status_detailed is S.Settled and settled.status_onchain == 1
    assert settled.settlement_ustx == 500_000_000 and settled.tx_id_status_update is not None
    assert await h.balance("wallet_1") == before + 500_000_000  # the owner paid no fee: the backend did
    for tier in ("Conservative", "Balanced", "Aggressive"):
        mirror = await h.services.store.db.tiers.find_one({"_id": tier})
        chain = await h.chain_tier(tier)
        assert mirror is not None
        fields = ("capital_ustx", "locked_ustx", "pending_premiums_ustx")
        assert tuple(mirror[f] for f in fields) == tuple(chain[f.replace("_", "-")] for f in fields), tier
    txs = await h.services.backend_txs.for_policy(policy.id)
    assert [(t.action.value, t.status) for t in txs] == [("settle", "success")]
    with pytest.raises(Conflict):  # a second activation finds it Settled
        await lifecycle.request_activation(owner, policy.policy_id_onchain or 0)


async def test_expiry_after_the_height_releases_the_collateral(harness: Harness) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None
    policy = await h.create_active("wallet_2", days=1)
    assert await h.policy_lock(policy) == {
        "tier": "Conservative",
        "amount-ustx": policy.collateral_ustx,
        "premium-ustx": policy.premium_ustx,  # pending until the policy closes
    }
    burn = await h.services.tip.burn_height() if h.services.tip else 0
    await h.mine(1, policy.expiration_height - burn)  # exactly at the expiration height: not expired yet
    assert h.services.tip is not None
    h.services.tip.invalidate()  # don't wait for the one-second cache
    # (the shared devnet carries other tests' policies too: the listener mirrors them all, some expire here)
    assert policy.id not in (await lifecycle.check_expirations()).expiring
    await h.set_btc(9_000_000_000_000)
    await h.mine(1, 1)  # one past it
    h.services.tip.invalidate()
    with pytest.raises(ActivationConditionNotMet):
        await lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0)
    report = await lifecycle.check_expirations()
    assert policy.id in report.expiring
    await h.settle_round()
    expired = await h.services.policies.require(policy.id)
    assert expired.status_detailed is S.Expired and expired.status_onchain == 2
    assert await h.policy_lock(policy) is None  # the vault released this policy's whole collateral


async def test_an_on_chain_abort_fails_the_settlement_and_a_retry_succeeds(harness: Harness) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None
    policy = await h.create_active("wallet_3")
    await h.set_btc(9_000_000_000_000)
    await lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0)
    # Between preparation and mining, the admin hands the backend role to someone else: the tx aborts (u100).
    registry, admin = h.devnet.registry, "deployer"
    await h.send(admin, registry, "set-backend-principal", [principal_cv(h.devnet.accounts["wallet_4"].address)])
    await h.mine()
    await h.settle_round()
    failed = await h.services.policies.require(policy.id)
    assert failed.status_detailed is S.FailedSettlement
    assert failed.failure_reason == "abort_by_response: u100 not-authorized"
    await h.send(admin, registry, "set-backend-principal", [principal_cv(h.devnet.accounts["backend"].address)])
    await h.mine()
    retried = await lifecycle.retry(policy.policy_id_onchain or 0)
    assert retried.status_detailed is S.Settling and retried.failure_reason is None
    await h.settle_round()
    assert (await h.services.policies.require(policy.id)).status_detailed is S.Settled
    txs = await h.services.backend_txs.for_policy(policy.id)
    assert [(t.attempt, t.status) for t in txs] == [(1, "failed"), (2, "success")]


async def test_a_crash_after_broadcast_sends_nothing_twice(harness: Harness) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None
    policy = await h.create_active("wallet_4")
    await h.set_btc(9_000_000_000_000)
    backend = h.devnet.accounts["backend"].address
    nonce_before = (await h.chain.get_nonces(backend)).possible_next_nonce
    await lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0)
    assert h.services.backend_sender is not None
    await h.services.backend_sender.process_once()  # broadcast; then the worker "dies" before confirmation
    restarted = BackendTxSender(
        h.chain,
        BackendSigner.from_hex(h.devnet.accounts["backend"].private_key, TESTNET),
        h.services.store,
        PolicyBackendOutcomes(h.services.policies),
        h.devnet.registry,
        h.devnet.vault,
    )
    await restarted.process_once()  # a new process with a fresh nonce manager picks the queue up
    await h.settle_round(restarted)
    assert (await h.services.policies.require(policy.id)).status_detailed is S.Settled
    assert (await h.chain.get_nonces(backend)).possible_next_nonce == nonce_before + 1  # one transaction
    txs = await h.services.backend_txs.for_policy(policy.id)
    assert len(txs) == 1 and txs[0].status == "success"


async def test_two_concurrent_activations_make_one_transaction(harness: Harness) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None
    policy = await h.create_active("wallet_1", sats=3_000_000)
    await h.set_btc(9_000_000_000_000)
    outcomes = await asyncio.gather(
        *[lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0) for _ in range(4)],
        return_exceptions=True,
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
    assert len(await h.services.backend_txs.for_policy(policy.id)) == 1
    await h.settle_round()
    assert (await h.services.policies.require(policy.id)).status_detailed is S.Settled


async def test_a_settlement_too_late_to_succeed_expires_instead(harness: Harness) -> None:
    h = harness
    lifecycle = h.services.lifecycle
    assert lifecycle is not None and h.services.tip is not None
    policy = await h.create_active("wallet_3", days=1, sats=1_000_000)
    await h.set_btc(9_000_000_000_000)
    await lifecycle.request_activation(policy.owner, policy.policy_id_onchain or 0)
    burn = await h.services.tip.burn_height()
    await h.mine(1, policy.expiration_height - burn + 1)  # the height passes before the transaction is mined
    await h.settle_round()
    failed = await h.services.policies.require(policy.id)
    assert failed.status_detailed is S.FailedSettlement
    assert failed.failure_reason == "abort_by_response: u105 policy-expired"
    h.services.tip.invalidate()
    assert policy.id in (await lifecycle.check_expirations()).expiring  # its collateral must not stay locked
    await h.settle_round()
    assert (await h.services.policies.require(policy.id)).status_detailed is S.Expired
