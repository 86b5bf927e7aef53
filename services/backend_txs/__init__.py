"""Backend-signed transactions: one durable queue, one transaction per (policy, action) at a time."""

from services.backend_txs.queue import BackendTxQueue, BackendTxSettings, PolicyAction, QueuedTx

__all__ = ["BackendTxQueue", "BackendTxSettings", "PolicyAction", "QueuedTx"]
