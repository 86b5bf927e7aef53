"""Liquidity: the vault's tier ledger (mirrored from chain events) and off-chain collateral reservations."""

from services.liquidity.service import LiquidityService, TierAvailability

__all__ = ["LiquidityService", "TierAvailability"]
