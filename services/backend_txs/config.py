"""The sender's tunables, and the one contract call it makes."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.chain.backend_tx import FeePolicy
from services.chain.clarity import ClarityValue, uint_cv
from services.chain.transactions import StxPostCondition
from services.store.mongo import Document

UPDATE_STATUS = "update-policy-status"


@dataclass(frozen=True)
class BackendTxSettings:
    max_attempts: int = 5  # transient failures of one attempt before it fails for good
    retry_backoff_s: float = 5.0  # doubled after each transient failure
    rebroadcast_after_s: float = 120.0  # a still-pending transaction is re-sent this often
    low_balance_ustx: int = 10_000_000  # warn when the backend principal holds less (10 STX)
    fee: FeePolicy = field(default_factory=FeePolicy)


def status_args(doc: Document) -> list[ClarityValue]:
    """`update-policy-status(id, new-status, settlement, price)` for the transaction `doc`."""
    return [
        uint_cv(doc["policy_id_onchain"]),
        uint_cv(doc["new_status"]),
        uint_cv(doc["settlement_ustx"]),
        uint_cv(doc["settlement_price_usd8"]),
    ]


def post_conditions(doc: Document, vault_contract_id: str) -> list[StxPostCondition]:
    # Deny mode: the only STX that may move is the settlement, from the vault to the owner.
    amount = int(doc["settlement_ustx"])
    return [StxPostCondition(vault_contract_id, "eq", amount)] if amount else []
