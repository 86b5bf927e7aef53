"""Demo data for the embedded default: a few policies bought through the real flow, so GraphiQL's first
`policies` query shows something.

Each one goes the way a user's would: quote → `request_creation` (collateral reserved, quote signed, policy
PendingCreation) → the prepared `create-policy-entry` call signed with a devnet demo wallet's key by
services.chain → broadcast to the devnet → `submit_creation_tx`. The worker's chain listener then turns them
Active once their blocks confirm, like any other policy. Nothing here writes a policy directly.

Runs once: it is skipped when the database already holds any policy (a second `dev.py up`, or a database that
is not the embedded one's). It runs in a background thread with its own services, so the API starts at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from policy_registry.container import Services
from policy_registry.embedded.devnet import DevnetAccount
from policy_registry.settings import Settings
from services.chain import BackendSigner
from services.policies.quotes import PolicyParameters

log = logging.getLogger(__name__)

FEE_USTX = 10_000  # 0.01 STX: well above the devnet's fee floor
BTC = 100_000_000  # satoshis
USD = 100_000_000  # USD x 1e8


@dataclass(frozen=True)
class DemoPolicy:
    wallet: str  # a Devnet.toml account name
    parameters: PolicyParameters


# One per tier at the local feed's default $100,000 BTC: strikes at 95%, 90% and 80% of spot.
DEMO_POLICIES = (
    DemoPolicy("wallet_2", PolicyParameters("PUT", BTC // 10, 95_000 * USD, 30)),
    DemoPolicy("wallet_3", PolicyParameters("PUT", BTC // 20, 90_000 * USD, 60)),
    DemoPolicy("wallet_4", PolicyParameters("PUT", BTC // 4, 80_000 * USD, 90)),
)


async def _ensure_market(services: Services) -> None:
    """Fresh prices and the vault's capital, in case the worker's jobs have not produced them yet."""
    if services.local_prices is not None:
        await services.local_prices.load()
    await services.oracle.refresh()
    assert services.chain is not None
    tip = await services.chain.get_tip()
    tiers = await services.liquidity.availability(tip.burn_block_height)
    if not any(t.capital_ustx for t in tiers):
        await services.liquidity.sync_from_chain(services.chain, services.settings.vault_contract_id)


async def buy(services: Services, account: DevnetAccount, parameters: PolicyParameters, key: str) -> tuple[str, str]:
    """One policy through the real flow; returns (policy id, creation txid)."""
    assert services.creation is not None and services.chain is not None
    result = await services.creation.request_creation(account.address, parameters, key)
    call = result.transaction
    signer = BackendSigner.from_hex(account.private_key, call.network)
    nonce = (await services.chain.get_nonces(account.address)).possible_next_nonce
    tx = call.sign(signer, nonce, FEE_USTX)
    txid = await services.chain.broadcast_transaction(tx.serialize())
    await services.creation.submit_creation_tx(account.address, result.policy.id, txid)
    return result.policy.id, txid


async def seed(services: Services, accounts: Mapping[str, DevnetAccount]) -> list[str]:
    """Creates the demo policies unless the database already has policies; returns the new policy ids."""
    if await services.policies.any():
        log.info("demo data: skipped (the database already holds policies)")
        return []
    if services.creation is None or services.chain is None:
        log.warning("demo data: skipped (no chain or no quote key configured)")
        return []
    await _ensure_market(services)
    created: list[str] = []
    for n, demo in enumerate(DEMO_POLICIES, start=1):
        account = accounts[demo.wallet]
        policy_id, txid = await buy(services, account, demo.parameters, f"demo-{n}")
        log.info("demo data: policy %s for %s (%s), creation tx %s", policy_id, demo.wallet, account.address, txid)
        created.append(policy_id)
    log.info("demo data: %d policies sent; they turn Active as their blocks confirm", len(created))
    return created


class DemoSeeder:
    """Runs :func:`seed` once in a background thread; leaving the context cancels it if it is still running."""

    def __init__(self, settings: Settings, mongodb_uri: str, accounts: Mapping[str, DevnetAccount]) -> None:
        self._settings = settings
        self._uri = mongodb_uri
        self._accounts = dict(accounts)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[list[str]] | None = None
        self._thread = threading.Thread(target=self._run, name="demo-data", daemon=True)
        self._ready = threading.Event()
        self.created: list[str] = []

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._main())
            self._ready.set()
            self.created = loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            log.info("demo data: stopped before it finished")
        except Exception:
            log.exception("demo data: could not be created (the service itself is unaffected)")
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> list[str]:
        services = await Services.create(self._settings, self._uri)
        try:
            return await seed(services, self._accounts)
        finally:
            await services.close()

    def __enter__(self) -> DemoSeeder:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._ready.wait(timeout=5)
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed in between: the seeding had finished
                pass
        self._thread.join(timeout=10)
