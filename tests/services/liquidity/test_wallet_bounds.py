"""The per-wallet bounds of a reservation (services/liquidity/wallet_bounds.py): counts, funds, the tier share."""

from __future__ import annotations

import pytest

from services.core.errors import InsufficientFunds, QuotaExceeded
from services.liquidity.wallet_bounds import WalletBounds, WalletRequest, check_before_capacity, check_tier_share
from services.store.reservations import OpenReservation

BOUNDS = WalletBounds(max_open_quotes=3, max_tier_share_ppm=100_000, fee_estimate_ustx=1_000)


def held(tier: str = "Conservative", collateral: int = 100, premium: int = 10, fee: int = 1_000) -> OpenReservation:
    return OpenReservation("q", tier, collateral, premium, fee)


def request(balance: int, premium: int = 10, collateral: int = 100) -> WalletRequest:
    return WalletRequest("Conservative", collateral, premium, balance)


def test_the_open_quote_count_is_checked_before_the_funds() -> None:
    with pytest.raises(QuotaExceeded) as refused:
        check_before_capacity(BOUNDS, request(balance=0), [held(), held(), held()])
    assert refused.value.details == {"limit": "openQuotes", "max": 3}


def test_the_balance_covers_this_premium_and_fee_and_those_of_the_open_quotes() -> None:
    open_now = [held(premium=10), held(premium=20, fee=0)]  # a reservation of before the funds check: no fee kept
    needed = 10 + 1_000 + (10 + 1_000) + (20 + 0)
    check_before_capacity(BOUNDS, request(balance=needed), open_now)
    with pytest.raises(InsufficientFunds) as refused:
        check_before_capacity(BOUNDS, request(balance=needed - 1), open_now)
    assert refused.value.details == {"balanceUstx": str(needed - 1), "requiredUstx": str(needed)}


def test_the_share_counts_only_the_tier_and_rounds_down() -> None:
    capital = 10_009  # 10 % is 1000.9 uSTX: one wallet may hold 1000
    open_now = [held(collateral=600), held(tier="Balanced", collateral=5_000)]
    check_tier_share(BOUNDS, request(balance=0, collateral=400), open_now, capital)
    with pytest.raises(QuotaExceeded) as refused:
        check_tier_share(BOUNDS, request(balance=0, collateral=401), open_now, capital)
    assert refused.value.details == {"limit": "tierShare", "maxUstx": "1000", "heldUstx": "600", "requiredUstx": "401"}
