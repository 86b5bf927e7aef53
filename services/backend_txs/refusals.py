"""What the sender does with a failed step: the node's refusals (their table is `rejections.py`), recorded on the
transaction and acted on, and transient failures, retried with backoff."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from services.backend_txs.config import BackendTxSettings
from services.backend_txs.rejections import Action, Handling, handling_for, recorded_data, recorded_reason
from services.backend_txs.writes import FencedWrites
from services.chain.errors import BroadcastRejected, FeeTooLow
from services.core.clock import now_utc
from services.store.backend_txs import Append
from services.store.mongo import Document

log = logging.getLogger(__name__)

# refusals kept in a transaction's `rejections` history (the latest ones; `rejection_counts` counts every one): a
# transaction the node keeps refusing with a `wait` reason (NotEnoughFunds, ...) would otherwise grow without bound
REJECTIONS_KEPT = 20


class Refusals:
    def __init__(self, writes: FencedWrites, settings: BackendTxSettings) -> None:
        self._writes = writes
        self._settings = settings

    async def rejected_send(self, doc: Document, exc: BroadcastRejected) -> None:
        """A first broadcast the node refused: act on the reason. The node did not take the bytes and their nonce
        was given back, so the recorded transaction is void: the attempt is queued again, to be signed afresh."""
        handling = handling_for(exc.reason)
        await self.record(doc, exc, handling)
        if doc.get("status") == "signed":
            void = {"status": "queued", "txid": None, "raw_tx": None, "nonce": None, "refused_txid": doc.get("txid")}
            await self._writes.set(doc, void)
        if handling.action is Action.STOP:
            await self.stop(doc, exc, handling)
        elif handling.action is Action.BUMP_FEE and isinstance(exc, FeeTooLow) and exc.expected is not None:
            cap = self._settings.fee.maximum
            if exc.expected > cap:
                await self.stop(doc, exc, handling, f"the node's minimum fee is above the cap of {cap} uSTX")
                return
            # signed again at once, at least at the node's minimum; a try of the attempt all the same, so a node
            # that keeps asking for more (within the cap) ends the attempt instead of being followed forever
            failures = doc.get("failures", 0) + 1
            if failures >= self._settings.max_attempts:
                await self._writes.fail(doc, f"gave up after {failures} tries: broadcast rejected: {exc.detail}")
                return
            await self._writes.set(doc, {"min_fee": exc.expected, "failures": failures, "next_try_at": now_utc()})
        else:
            # fresh_nonce (sign_and_broadcast already resynced and retried) and wait: later, with backoff
            await self.transient(doc, f"broadcast rejected: {exc.detail}")

    async def record(self, doc: Document, exc: BroadcastRejected, handling: Handling) -> None:
        """The node's refusal on the transaction: the last one, the history, and an alert if it needs the operator."""
        reason, detail = recorded_reason(exc.reason), exc.detail[:500]
        entry = {
            "reason": reason,
            "action": handling.action.value,
            "detail": detail,
            "reason_data": recorded_data(exc.reason_data),
            "txid": str(exc.txid)[:80] if exc.txid is not None else None,
            "at": now_utc(),
        }
        changes: dict[str, Any] = {"last_rejection": entry}
        if handling.alert:
            changes["alert"] = {"reason": reason, "detail": detail, "meaning": handling.meaning}
        # the history keeps the latest refusals; the counts (what /metrics reports) keep every one
        await self._writes.set(
            doc,
            changes,
            append=Append("rejections", entry, keep=REJECTIONS_KEPT),
            inc={f"rejection_counts.{reason}.{entry['action']}": 1},
        )
        level = logging.ERROR if handling.alert else logging.WARNING
        log.log(
            level,
            "backend tx refused by the node: %s (%s: %s)",
            exc.detail,
            handling.action.value,
            handling.meaning,
            extra={"policy_id": doc["policy_id"], "action": doc["action"], "reason": exc.reason},
        )

    async def stop(self, doc: Document, exc: BroadcastRejected, handling: Handling, why: str | None = None) -> None:
        reason = f"refused by the node: {exc.detail[:500]}" + (f"; {why}" if why else "") + f" ({handling.meaning})"
        await self._writes.fail(doc, reason, {"stopped_by": recorded_reason(exc.reason)})

    async def transient(self, doc: Document, error: str) -> None:
        failures = doc.get("failures", 0) + 1
        if failures >= self._settings.max_attempts and doc["status"] == "queued":
            await self._writes.fail(doc, f"gave up after {failures} tries: {error}")
            return
        delay = self._settings.retry_backoff_s * 2 ** min(failures - 1, 6)
        await self._writes.set(
            doc, {"failures": failures, "last_error": error, "next_try_at": now_utc() + timedelta(seconds=delay)}
        )
        log.warning(
            "backend tx step failed (%s); retry in %.0fs",
            error,
            delay,
            extra={"policy_id": doc["policy_id"], "action": doc["action"]},
        )
