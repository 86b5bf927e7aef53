"""The composition root's object graph: one instance of each service per process, built from settings.

The API (`serve`) and the worker (`policy-registry worker`, or the one inside `serve`) take everything from here:
one Stacks API client, one repository of each kind, one instance id."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import httpx

from policy_registry import wiring
from policy_registry.jobs import ExpirationJob, OraclePollJob
from policy_registry.settings import Settings
from services.auth.service import AuthService
from services.backend_txs import BackendTxQueue, BackendTxSender
from services.chain.api_client import StacksApiClient
from services.chain.tip import TipCache
from services.jobs.reconciliation import Reconciler
from services.jobs.runner import SingletonJob
from services.jobs.tx_monitor import CreationTxMonitor, QuoteExpiryJob
from services.liquidity import LiquidityService
from services.listener.poller import ChainListener, ListenerConfig
from services.oracle import Asset, OracleParameters, OracleService
from services.oracle.local_control import LocalPriceControl
from services.policies.backend_outcomes import PolicyBackendOutcomes
from services.policies.creation import ChainContracts, CreationService
from services.policies.lifecycle import LifecycleService
from services.policies.queries import PolicyQueries
from services.policies.quotes import QuoteService
from services.pubsub.service import PubSub
from services.store.leases import Lease
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.prices import MongoPriceStore


def holder_id(instance_id: str) -> str:
    """A lease holder: unique per process even when several share an INSTANCE_ID (a shared id would share the
    leases)."""
    return f"{instance_id}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


def chain_jobs(
    settings: Settings,
    store: MongoStore,
    client: StacksApiClient,
    policies: PolicyRepository,
    liquidity: LiquidityService,
) -> list[tuple[SingletonJob, float]]:
    """The chain-side jobs over `client`: the listener, the creation-tx monitor, quote expiry and reconciliation."""
    config = ListenerConfig(
        registry_contract_id=settings.registry_contract_id,
        vault_contract_id=settings.vault_contract_id,
        confirmations=settings.chain_confirmations,
        reorg_window=settings.listener_reorg_window,
        restart_policy=settings.chain_restart_policy,
    )
    # The listener's fence is replaced by its lease on every run (run_once); until then nothing may write.
    listener = ChainListener(store, client, config, Lease(store, "chain-listener", "-", 1.0), policies, liquidity)
    confirmations = settings.chain_confirmations
    registry = settings.registry_contract_id
    return [
        (listener, settings.listener_poll_interval_s),
        (CreationTxMonitor(store, client, confirmations, policies, liquidity), settings.tx_monitor_interval_s),
        (QuoteExpiryJob(store, client, registry, confirmations, policies, liquidity), settings.tx_monitor_interval_s),
        (Reconciler(store, client, registry, confirmations, policies), settings.reconcile_interval_s),
    ]


@dataclass
class Services:
    settings: Settings
    instance_id: str  # INSTANCE_ID or host name and port: the change feed's resume token
    holder: str  # this process's lease holder (the instance id made unique per process)
    store: MongoStore
    policies: PolicyRepository
    policy_queries: PolicyQueries
    http: httpx.AsyncClient
    oracle: OracleService
    local_prices: LocalPriceControl | None
    liquidity: LiquidityService
    contracts: ChainContracts
    chain: StacksApiClient | None  # None: no Stacks API configured (read-only API)
    tip: TipCache | None
    quotes: QuoteService | None
    creation: CreationService | None  # None also when no quote key is configured
    backend_txs: BackendTxQueue  # enqueue and reads
    backend_sender: BackendTxSender | None  # None without a chain and a backend key: nothing is sent
    lifecycle: LifecycleService | None
    auth: AuthService
    pubsub: PubSub  # the change feed is started by the app's lifespan

    @classmethod
    async def create(cls, settings: Settings, mongodb_uri: str, ensure_indexes: bool = True) -> Services:
        store = MongoStore(
            mongodb_uri, settings.mongodb_database, settings.mongodb_timeout_ms, wiring.write_durability(settings)
        )
        if ensure_indexes:
            await store.ensure_indexes()
        policies = PolicyRepository(store)
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0), headers={"user-agent": "bithedge-policy-registry"})
        sources, feed = wiring.price_sources(settings, http)
        defaults = {Asset.BTC_USD: settings.local_btc_price_usd8, Asset.STX_USD: settings.local_stx_price_usd8}
        local_prices = LocalPriceControl(feed, store, defaults) if feed else None
        oracle = OracleService(sources, MongoPriceStore(store), OracleParameters())
        liquidity = LiquidityService(store)
        contracts = ChainContracts(settings.registry_contract_id, settings.vault_contract_id, settings.stacks_network)
        chain = tip = quotes = creation = lifecycle = None
        if settings.stacks_api_url:
            key = settings.stacks_api_key.get_secret_value() if settings.stacks_api_key else None
            chain = StacksApiClient(settings.stacks_api_url, api_key=key)
            tip = TipCache(chain)
            quotes = QuoteService(
                store,
                oracle,
                liquidity,
                tip,
                wiring.premium_parameters(settings),
                wiring.quote_limits(settings),
                wiring.burn_block_seconds(settings),
            )
            quote_signer = wiring.load_signer(settings, "quote")
            if quote_signer is not None:
                creation = CreationService(
                    store,
                    policies,
                    quotes,
                    liquidity,
                    quote_signer,
                    contracts,
                    accounts=chain,
                    wallet_bounds=wiring.wallet_bounds(settings),
                )
        backend_txs = BackendTxQueue(store)
        backend_signer = wiring.load_signer(settings, "backend")
        backend_sender = None
        if chain is not None and backend_signer is not None:
            backend_sender = BackendTxSender(
                chain,
                backend_signer,
                store,
                PolicyBackendOutcomes(policies),
                settings.registry_contract_id,
                settings.vault_contract_id,
            )
        if tip is not None:
            lifecycle = LifecycleService(store, policies, oracle, tip, backend_txs)
        instance_id = settings.process_instance_id
        return cls(
            settings=settings,
            instance_id=instance_id,
            holder=holder_id(instance_id),
            store=store,
            policies=policies,
            policy_queries=PolicyQueries(policies, settings.max_page_size, settings.default_page_size),
            http=http,
            oracle=oracle,
            local_prices=local_prices,
            liquidity=liquidity,
            contracts=contracts,
            chain=chain,
            tip=tip,
            quotes=quotes,
            creation=creation,
            backend_txs=backend_txs,
            backend_sender=backend_sender,
            lifecycle=lifecycle,
            auth=AuthService(
                store,
                settings.stacks_network,
                settings.auth_challenge_ttl_s,
                settings.session_ttl_s,
                challenge_bounds=wiring.challenge_bounds(settings),
            ),
            pubsub=PubSub(
                store,
                instance_id,
                settings.subscription_max_pending,
                settings.subscription_stall_timeout_s,
                settings.subscription_replay_limit,
            ),
        )

    def jobs(self, *, chain_only: bool = False) -> list[tuple[SingletonJob, float]]:
        """The worker's singleton jobs, each run under its own lease: the chain-side ones, then (unless
        `chain_only`) the oracle poll, the expiration check and the backend transaction queue."""
        if self.chain is None:
            raise RuntimeError("STACKS_API_URL is not set: the worker needs a Stacks API")
        jobs = chain_jobs(self.settings, self.store, self.chain, self.policies, self.liquidity)
        if chain_only:
            return jobs
        settings = self.settings
        jobs.append((OraclePollJob(self.oracle, self.local_prices), settings.oracle_poll_interval_s))
        if self.lifecycle is not None:
            jobs.append((ExpirationJob(self.lifecycle), settings.expiration_check_interval_s))
        if self.backend_sender is not None:  # without a backend key there is nothing to send
            jobs.append((self.backend_sender, settings.backend_tx_interval_s))
        return jobs

    async def close(self) -> None:
        if self.chain is not None:
            await self.chain.aclose()
        await self.http.aclose()
        await self.store.close()
