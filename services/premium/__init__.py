"""Premium service: Black-Scholes PUT premium, collateral, tier matching and settlement (pure, integer I/O)."""

from services.premium.calculator import (
    PremiumInputs,
    PremiumQuote,
    calculate_premium,
    loaded_premium_usd8,
    match_tier,
    required_collateral_ustx,
    resolve_tier,
)
from services.premium.errors import PremiumExceedsCollateral, PremiumInputError, TierMismatch
from services.premium.parameters import PremiumParameters
from services.premium.settlement import settlement_ustx
from services.premium.tiers import TierTerms
from services.premium.units import usd8_to_ustx_down, usd8_to_ustx_up

__all__ = [
    "PremiumExceedsCollateral",
    "PremiumInputError",
    "PremiumInputs",
    "PremiumParameters",
    "PremiumQuote",
    "TierMismatch",
    "TierTerms",
    "calculate_premium",
    "loaded_premium_usd8",
    "match_tier",
    "required_collateral_ustx",
    "resolve_tier",
    "settlement_ustx",
    "usd8_to_ustx_down",
    "usd8_to_ustx_up",
]
