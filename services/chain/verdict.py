"""One look at a transaction, as a verdict with a readable failure reason (creation and backend transactions).

The reason names the contract's error code (``abort_by_response: u106 quote-expired``) from contracts/README.md's
error tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .api_client import StacksApiClient
from .clarity import ClarityErr, ClarityUInt, ClarityValue, to_python
from .errors import ChainError, ChainNotFound
from .monitor import TxState, classify

# contracts/README.md error tables: the names make failure reasons readable for users and operators
ERROR_NAMES: dict[int, str] = {
    100: "not-authorized",
    101: "policy-not-found",
    102: "invalid-parameters",
    103: "invalid-status-transition",
    104: "policy-not-expired",
    105: "policy-expired",
    106: "quote-expired",
    107: "quote-already-used",
    108: "bad-quote-signature",
    109: "settlement-exceeds-collateral",
    110: "premium-exceeds-collateral",
    200: "vault-not-authorized",
    201: "invalid-tier",
    202: "invalid-amount",
    203: "insufficient-free-capital",
    204: "insufficient-shares",
    205: "exceeds-locked-collateral",
    206: "stx-transfer-failed",
    207: "lock-exists",
    208: "lock-not-found",
    209: "deposit-too-small",
    210: "premium-exceeds-collateral",
    211: "shares-back-open-policies",
    212: "no-surplus",
}

VerdictState = TxState | Literal["not-found"]  # not-found: the API has never seen the txid


@dataclass(frozen=True)
class TxVerdict:
    txid: str
    state: VerdictState
    tx_status: str | None = None
    reason: str | None = None
    error_code: int | None = None
    block_height: int | None = None
    burn_block_height: int | None = None

    @property
    def is_final(self) -> bool:
        return self.state in ("success", "failed")


def describe_failure(tx_status: str, result: ClarityValue | None, vm_error: Any = None) -> tuple[str, int | None]:
    """A readable reason for a failed transaction, and the contract's error code when it returned one."""
    if isinstance(result, ClarityErr) and isinstance(result.value, ClarityUInt):
        code = result.value.value
        return f"{tx_status}: u{code} {ERROR_NAMES.get(code, 'unknown-error')}", code
    if result is not None:
        try:
            shown = repr(to_python(result))
        except ChainError:
            shown = "undecodable result"
        detail = f" ({vm_error})" if vm_error else ""
        return f"{tx_status}: {shown}{detail}", None
    return tx_status, None


async def classify_txid(client: StacksApiClient, txid: str) -> TxVerdict:
    """One look at a transaction. Raises ChainError subclasses other than ChainNotFound for the caller to retry."""
    try:
        info = await client.get_transaction(txid)
    except ChainNotFound:
        return TxVerdict(txid, "not-found")
    outcome = classify(info)
    if outcome.state == "failed":
        reason, code = describe_failure(outcome.tx_status or "failed", outcome.result, info.raw.get("vm_error"))
        return TxVerdict(
            info.tx_id, "failed", outcome.tx_status, reason, code, outcome.block_height, outcome.burn_block_height
        )
    return TxVerdict(
        info.tx_id, outcome.state, outcome.tx_status, None, None, outcome.block_height, outcome.burn_block_height
    )
