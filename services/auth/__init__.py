"""Wallet sign-in (Stacks message signatures), sessions and the operator token (who may see a policy is
services.core.visibility's rule)."""
