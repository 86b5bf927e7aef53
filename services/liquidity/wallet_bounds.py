"""What one wallet may reserve (docs/security.md "Hostile clients"): reserved capital must be paid for or bounded.

A creation request reserves collateral only when the wallet
- holds fewer than `max_open_quotes` open quotes (signed, reserved, not on chain yet, quote still live),
- can pay: its STX balance on chain covers this premium and fee plus the premiums and fees its other open quotes
  will need (`fee_estimate_ustx` per creation transaction),
- and, with this one, reserves at most `max_tier_share_ppm` of the tier's capital.

A reported creation txid does not free a slot: until the chain confirms it, a txid proves nothing. The contract
stays the final check (it transfers the premium and locks the collateral atomically, or nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.core.errors import InsufficientFunds, QuotaExceeded
from services.store.reservations import OpenReservation

PPM = 1_000_000


@dataclass(frozen=True)
class WalletBounds:
    max_open_quotes: int = 3
    max_tier_share_ppm: int = 100_000  # 10 %
    fee_estimate_ustx: int = 100_000  # 0.1 STX per creation transaction


@dataclass(frozen=True)
class WalletRequest:
    """The reservation a creation asks for, and the wallet's STX balance read from the chain for it."""

    tier: str
    collateral_ustx: int
    premium_ustx: int
    balance_ustx: int


def check_before_capacity(bounds: WalletBounds, request: WalletRequest, open_now: list[OpenReservation]) -> None:
    """The bounds that do not depend on the tier: the number of open quotes, then the funds."""
    if len(open_now) >= bounds.max_open_quotes:
        raise QuotaExceeded(
            f"this wallet holds {len(open_now)} open quotes (at most {bounds.max_open_quotes}): sign and send one, "
            "or wait until one lapses",
            limit="openQuotes",
            max=bounds.max_open_quotes,
        )
    committed = sum(r.premium_ustx + r.fee_ustx for r in open_now)
    needed = request.premium_ustx + bounds.fee_estimate_ustx + committed
    if request.balance_ustx < needed:
        raise InsufficientFunds(
            f"the wallet's balance of {request.balance_ustx} uSTX does not cover {needed} uSTX: this premium and "
            f"fee, plus {committed} uSTX its other open quotes need",
            balanceUstx=str(request.balance_ustx),
            requiredUstx=str(needed),
        )


def check_tier_share(
    bounds: WalletBounds, request: WalletRequest, open_now: list[OpenReservation], capital_ustx: int
) -> None:
    """The wallet's open reservations in the tier, this one included, within its share of the tier's capital."""
    held = sum(r.collateral_ustx for r in open_now if r.tier == request.tier)
    allowed = capital_ustx * bounds.max_tier_share_ppm // PPM  # rounded down: in favour of the other buyers
    if held + request.collateral_ustx > allowed:
        raise QuotaExceeded(
            f"one wallet may reserve at most {allowed} uSTX of the {request.tier} tier "
            f"({bounds.max_tier_share_ppm} ppm of its capital); it holds {held} uSTX and this policy needs "
            f"{request.collateral_ustx} uSTX",
            limit="tierShare",
            maxUstx=str(allowed),
            heldUstx=str(held),
            requiredUstx=str(request.collateral_ustx),
        )
