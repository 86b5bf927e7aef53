"""Follow a transaction to a final status (or a timeout)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from .api_client import TransactionInfo, normalize_txid
from .clarity import ClarityValue
from .errors import ChainError, ChainNotFound, StacksApiUnavailable

log = logging.getLogger(__name__)

TxState = Literal["pending", "success", "failed"]


class TransactionSource(Protocol):
    async def get_transaction(self, txid: str) -> TransactionInfo: ...


@dataclass(frozen=True, slots=True)
class TxMonitorResult:
    txid: str
    state: TxState
    tx_status: str | None  # the API's status, e.g. abort_by_response, dropped_replace_by_fee
    reason: str | None  # for failed: the tx_status; for pending: "timeout" or "not-found"
    result: ClarityValue | None  # decoded tx_result (ok … / err …) when the tx was mined
    block_height: int | None = None
    block_hash: str | None = None
    burn_block_height: int | None = None

    @property
    def is_final(self) -> bool:
        return self.state != "pending"


def classify(info: TransactionInfo) -> TxMonitorResult:
    """Map the API's transaction object to success / failed / pending."""
    status = info.tx_status
    mined = dict(block_height=info.block_height, block_hash=info.block_hash, burn_block_height=info.burn_block_height)
    if status == "success" and info.canonical is not False:
        return TxMonitorResult(info.tx_id, "success", status, None, info.result, **mined)  # type: ignore[arg-type]
    if status in ("abort_by_response", "abort_by_post_condition") and info.canonical is not False:
        return TxMonitorResult(info.tx_id, "failed", status, status, info.result, **mined)  # type: ignore[arg-type]
    if status.startswith("dropped_"):
        return TxMonitorResult(info.tx_id, "failed", status, status, None)
    # pending, or mined in a block that is no longer canonical (it may be mined again)
    return TxMonitorResult(info.tx_id, "pending", status, None, None)


async def monitor_transaction(
    client: TransactionSource,
    txid: str,
    timeout: float,  # noqa: ASYNC109 - the deadline of the whole follow-up, not of one call
    *,
    poll_interval: float = 2.0,
) -> TxMonitorResult:
    """Poll until the transaction is final or ``timeout`` seconds pass (then ``state == "pending"``).

    A transaction the API does not know yet counts as pending (it may not be indexed yet); transient API
    failures are logged and polling goes on until the deadline."""
    tx = normalize_txid(txid)
    deadline = time.monotonic() + timeout
    last: TxMonitorResult = TxMonitorResult(tx, "pending", None, "not-found", None)
    while True:
        try:
            info = await client.get_transaction(tx)
        except ChainNotFound:
            last = TxMonitorResult(tx, "pending", None, "not-found", None)
        except StacksApiUnavailable as exc:
            log.warning("monitoring %s: %s", tx, exc)
        except ChainError as exc:  # malformed answers: keep the last known state, try again
            log.warning("monitoring %s: %s", tx, exc)
        else:
            last = classify(info)
            if last.is_final:
                return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return TxMonitorResult(tx, "pending", last.tx_status, "timeout", None)
        await asyncio.sleep(min(poll_interval, remaining))
