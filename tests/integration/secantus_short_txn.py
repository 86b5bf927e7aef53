"""Run SecantusDB (as its own process, spoken to over its socket) with a short transaction lifetime.

A process killed inside a transaction leaves its documents locked until the server reaps the transaction:
mongod after ``transactionLifetimeLimitSeconds`` (60 s by default, an operator setting), SecantusDB after the
same 60 s. The kill tests use a few seconds so they can restart workers quickly; ``secantusd-py`` has no flag
for it, hence this launcher. Usage: ``python secantus_short_txn.py PORT LIFETIME_S``.
"""

from __future__ import annotations

import os
import signal
import sys

from secantus.server import SecantusDBServer

from policy_registry.embedded.secantus import DURABLE


def main() -> None:
    port, lifetime = int(sys.argv[1]), float(sys.argv[2])
    server = SecantusDBServer(
        host="127.0.0.1",
        port=port,
        storage_path=":memory:",
        transaction_lifetime_seconds=lifetime,
        # The product's flags (policy_registry/embedded/secantus.py), so the kill tests run what `serve` runs.
        sync_on_commit=DURABLE.sync_on_commit,
        oplog_retention_seconds=DURABLE.oplog_retention_s,
        oplog_max_entries=DURABLE.oplog_max_entries,
        noop_heartbeat_seconds=DURABLE.noop_heartbeat_s,
    )
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # in-memory: nothing to flush
    server.start()
    server.wait()


if __name__ == "__main__":
    main()
