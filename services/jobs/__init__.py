"""Background jobs: leader leases, the singleton-job runner, the creation-transaction monitor, quote expiry and
reconciliation (DESIGN §7, §9)."""
