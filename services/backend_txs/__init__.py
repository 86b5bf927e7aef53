"""Backend-signed transactions: one durable queue, one transaction per (policy, action) at a time."""

from services.backend_txs.config import BackendTxSettings
from services.backend_txs.outcomes import BackendTxOutcomes
from services.backend_txs.queue import BackendTxQueue, PolicyAction, QueuedTx
from services.backend_txs.sender import BackendTxSender

__all__ = ["BackendTxOutcomes", "BackendTxQueue", "BackendTxSender", "BackendTxSettings", "PolicyAction", "QueuedTx"]
