"""The composition root's object graph: one instance of each service per process, built from settings."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from policy_registry import wiring
from policy_registry.settings import Settings
from services.auth.service import AuthService
from services.backend_txs import BackendTxQueue, BackendTxSender
from services.chain.api_client import StacksApiClient
from services.chain.tip import TipCache
from services.liquidity import LiquidityService
from services.oracle import Asset, OracleParameters, OracleService
from services.oracle.local_control import LocalPriceControl
from services.policies.backend_outcomes import PolicyBackendOutcomes
from services.policies.creation import ChainContracts, CreationService
from services.policies.lifecycle import LifecycleService
from services.policies.queries import PolicyQueries
from services.policies.quotes import QuoteService
from services.pubsub.service import PubSub, default_instance_id
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository
from services.store.prices import MongoPriceStore


@dataclass
class Services:
    settings: Settings
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
        return cls(
            settings=settings,
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
                settings.instance_id or default_instance_id(settings.port),
                settings.subscription_max_pending,
                settings.subscription_stall_timeout_s,
                settings.subscription_replay_limit,
            ),
        )

    async def close(self) -> None:
        if self.chain is not None:
            await self.chain.aclose()
        await self.http.aclose()
        await self.store.close()
