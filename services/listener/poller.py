"""The chain listener's poll: chain marker → tip → ingest both contracts' logs → reorg check → apply.

- **Ingest** (:mod:`services.listener.ingest`). Contract logs come newest first. Each poll pages back from the
  newest row until it reaches rows below the height it had fully synced (minus a small overlap). Rows are stored
  in `chain_events`, idempotently on ``(tx_id, event_index)``, one transaction per page (fenced by the lease).
- **Confirmations.** An event applies once ``burn tip − its burn height ≥ CHAIN_CONFIRMATIONS`` and its block
  is at or below the Stacks tip read at the start of the poll (both contracts have been ingested up to there).
- **Order** (:mod:`services.listener.apply`). Events apply in chain order: block height, tx index in the block,
  event index in the tx; both contracts interleaved. A chunk of events applies in one transaction with the lease
  fence, its handlers' writes (read once, applied in memory, written in bulk: :mod:`services.listener.chunk`), the
  events' outcomes and the cursor (``chain_cursor.applied_through``).
- **Reorgs** (:mod:`services.listener.reorg`). Blocks holding our events within ``reorg_window`` Stacks blocks of
  the tip are re-checked every poll.
- **Chain restarts** (:mod:`services.listener.restart`). The chain marker (the devnet's ``devnet_chain_marker``,
  else network id + genesis chainstate hash from ``/v2/info``) is kept with the cursor. A different marker is never
  mixed in: the listener halts (logs an error each poll, publishes it as ``last_error``) until an operator accepts
  the new chain (``policy-registry worker --accept-chain-restart``, or ``CHAIN_RESTART_POLICY=orphan``), which
  treats the old chain as orphaned as a whole and re-derives everything from the new one.
- **Status.** Each poll publishes the tip and the listener's status (:mod:`services.listener.publish`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from pymongo.errors import PyMongoError

from services.chain import ChainError, StacksApiClient, StacksTip
from services.core.errors import Conflict
from services.core.fencing import Fence, LeaseLost
from services.liquidity.service import LiquidityService
from services.listener.apply import Applier
from services.listener.events import Source
from services.listener.ingest import Ingestion, Transactions
from services.listener.publish import Publisher, fenced
from services.listener.reorg import Reorgs
from services.listener.restart import ChainRestarted, chain_marker, check_marker
from services.store.chain_events import ChainEventRepository
from services.store.chain_state import ChainStateRepository
from services.store.mongo import MongoStore
from services.store.policies import PolicyRepository

log = logging.getLogger(__name__)

INGEST_OVERLAP_BLOCKS = 2  # re-read a little below the synced height: cheap insurance against indexing lag


@dataclass(frozen=True)
class ListenerConfig:
    registry_contract_id: str
    vault_contract_id: str
    confirmations: int = 1
    reorg_window: int = 64  # Stacks blocks below the tip whose canonical status is re-checked each poll
    page_size: int = 50
    apply_batch: int = 200  # events aimed at per read (a window of block heights)
    apply_chunk: int = 100  # events applied per transaction (read, applied in memory, written in bulk)
    restart_policy: Literal["halt", "orphan"] = "halt"


@dataclass
class PollReport:
    ingested: int = 0
    applied: int = 0
    invalid: int = 0
    orphaned: int = 0
    stacks_height: int | None = None
    burn_height: int | None = None
    halted: bool = False
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class ChainListener:
    def __init__(
        self,
        mongo: MongoStore,
        client: StacksApiClient,
        config: ListenerConfig,
        fence: Fence,
        policies: PolicyRepository | None = None,
        liquidity: LiquidityService | None = None,
    ) -> None:
        self.mongo = mongo
        self.client = client
        self.config = config
        self.fence = fence
        self.events = ChainEventRepository(mongo)
        self.state = ChainStateRepository(mongo)
        self.policies = policies or PolicyRepository(mongo)
        self.sources: dict[str, Source] = {
            config.registry_contract_id: "registry",
            config.vault_contract_id: "vault",
        }
        self.ingestion = Ingestion(mongo, client, self.events, self.sources, config.page_size)
        self.reorgs = Reorgs(
            mongo,
            client,
            self.events,
            self.state,
            self.policies,
            liquidity or LiquidityService(mongo),
            config.reorg_window,
        )
        self.applier = Applier(mongo, self.events, self.state, config.apply_batch, config.apply_chunk)
        self.publisher = Publisher(mongo, self.state, self.events, config.confirmations)
        self.accept_restart_once = False
        self.metrics: dict[str, int] = {"polls": 0, "applied": 0, "invalid": 0, "orphaned": 0, "errors": 0}

    name = "chain-listener"

    async def run_once(self, fence: Fence) -> PollReport:
        """One poll under ``fence`` (the job runner passes the listener's lease)."""
        self.fence = fence
        return await self.poll_once()

    async def poll_once(self) -> PollReport:
        """Never raises for chain or data trouble (it is logged and published); LeaseLost propagates."""
        report = PollReport()
        self.metrics["polls"] += 1
        try:
            await self._poll(report)
        except LeaseLost:
            raise
        except ChainRestarted as exc:
            report.halted = True
            report.error = str(exc)
            log.error("chain listener halted: %s", exc)
        except (ChainError, PyMongoError, Conflict) as exc:
            report.error = f"{type(exc).__name__}: {exc}"
            log.warning("chain listener poll failed: %s", report.error)
        if report.error:
            self.metrics["errors"] += 1
        await self.publisher.status(
            self.fence,
            halted=report.halted,
            error=report.error,
            stacks_height=report.stacks_height,
            applied=report.applied,
            orphaned=report.orphaned,
            invalid=report.invalid,
        )
        return report

    async def _poll(self, report: PollReport) -> None:
        """Chain marker → tip → ingest both contracts' logs → reorg check → apply."""
        info = await self.client.get_node_info()
        tip = await self.client.get_tip()
        report.stacks_height, report.burn_height = tip.block_height, tip.burn_block_height
        marker = chain_marker(info)
        await self.publisher.tip(self.fence, tip, marker)
        await self._check_marker(marker, report)
        cursor = await self.state.load_cursor()
        synced = cursor.get("synced_height")
        floor = 0 if synced is None else max(0, int(synced) - INGEST_OVERLAP_BLOCKS)
        txs: Transactions = {}
        for contract_id in self.sources:
            report.ingested += await self.ingestion.contract(self.fence, contract_id, floor, marker, txs)
        synced_fields = {"synced_height": tip.block_height, "chain_marker": marker}
        await fenced(self.mongo, self.fence, lambda s: self.state.set_cursor(synced_fields, s))
        orphaned = await self.reorgs.check(self.fence, tip)
        self.metrics["orphaned"] += orphaned.events
        report.orphaned += orphaned.events
        if orphaned.events:
            report.details["reorg"] = {"blocks": orphaned.blocks, "policies": orphaned.policies}
        await self._apply_confirmed(tip, report)

    async def _check_marker(self, marker: str, report: PollReport) -> None:
        accept = self.config.restart_policy == "orphan" or self.accept_restart_once
        result = await check_marker(self.mongo, self.fence, self.state, self.events, self.reorgs, marker, accept=accept)
        if result is not None:
            self.accept_restart_once = False
            report.orphaned += result.events

    async def _apply_confirmed(self, tip: StacksTip, report: PollReport) -> None:
        def count(outcome: str | None) -> None:
            if outcome == "applied":
                report.applied += 1
                self.metrics["applied"] += 1
            elif outcome == "invalid":
                report.invalid += 1
                self.metrics["invalid"] += 1

        max_burn = tip.burn_block_height - self.config.confirmations
        await self.applier.apply_confirmed(self.fence, max_burn, tip.block_height, count)

    async def apply_many(self, keys: list[str]) -> list[str | None]:
        """Apply these stored events (if still pending and canonical), in the order given, in one fenced
        transaction."""
        return await self.applier.apply_many(self.fence, keys)
