"""Background jobs: the singleton-job runner (the leases it holds live in services/store/leases.py), the
creation-transaction monitor, quote expiry and reconciliation (DESIGN §7, §9)."""
