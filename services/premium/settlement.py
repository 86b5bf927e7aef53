"""Settlement of an activated PUT: what the pool pays the owner, in micro-STX (DESIGN §7 "Activation")."""

from __future__ import annotations

from services.premium.errors import PremiumInputError
from services.premium.units import SATS_PER_BTC, USTX_PER_STX, floor_div


def _check(field: str, value: object, *, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PremiumInputError(field, "must be an integer")
    if value < 0 or (value == 0 and not allow_zero):
        raise PremiumInputError(field, "must be positive" if not allow_zero else "must not be negative")
    return value


def settlement_ustx(strike_usd8: int, price_usd8: int, amount_sats: int, stx_usd8: int, collateral_ustx: int) -> int:
    """⌊(strike − price) × amount → micro-STX at the STX price⌋, capped at the collateral; 0 if price ≥ strike.

    (strike − price) × amount_sats / 1e8 is the USD×1e8 shortfall; × 1e6 / stx_usd8 converts it. Both steps
    happen in one exact integer division, rounded down (payouts round in favour of the pool).
    """
    strike = _check("strike_usd8", strike_usd8, allow_zero=False)
    price = _check("price_usd8", price_usd8, allow_zero=True)
    amount = _check("amount_sats", amount_sats, allow_zero=False)
    stx = _check("stx_usd8", stx_usd8, allow_zero=False)
    collateral = _check("collateral_ustx", collateral_ustx, allow_zero=True)
    if price >= strike:
        return 0
    owed = floor_div((strike - price) * amount * USTX_PER_STX, SATS_PER_BTC * stx)
    return min(owed, collateral)
