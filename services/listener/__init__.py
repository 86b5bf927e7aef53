"""The chain listener: confirmed, idempotent, reorg-safe sync of the registry's and the vault's contract events
into MongoDB (DESIGN §7 "Chain listener"). See docs/listener.md."""
