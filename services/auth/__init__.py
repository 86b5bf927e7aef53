"""Wallet sign-in (Stacks message signatures), sessions, the operator token and policy visibility."""
