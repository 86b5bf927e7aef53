"""Settings → service parameters, keys and price sources (kept apart from `Services` to keep that a list).

Each function takes the settings group it reads (policy_registry/settings.py), or `Settings` when it reads several."""

from __future__ import annotations

import os
from decimal import Decimal

import httpx

from policy_registry.settings import ChainSettings, DatabaseSettings, HttpSettings, PremiumSettings, Settings
from services.auth.service import ChallengeBounds
from services.chain.signer import BackendSigner
from services.core.models import RiskTier
from services.liquidity.wallet_bounds import WalletBounds
from services.oracle import Asset, LocalPriceFeed, PriceSource, production_sources
from services.policies.quotes import QuoteLimits
from services.premium import PremiumParameters, TierTerms
from services.store.mongo import WriteDurability

DEVNET_QUOTE_TTL_BURN_BLOCKS = 150  # ~5 minutes at the devnet's 2-second blocks: time for a person to sign


def write_durability(settings: DatabaseSettings) -> WriteDurability:
    w = settings.mongodb_write_concern
    return WriteDurability(
        w=int(w) if w.isdigit() else w,
        journal=settings.mongodb_journal,
        wtimeout_ms=settings.mongodb_write_timeout_ms,
        txn_read_concern=settings.mongodb_txn_read_concern,
    )


def premium_parameters(settings: PremiumSettings) -> PremiumParameters:
    def terms(tier: RiskTier) -> TierTerms:
        return TierTerms(
            premium_multiplier=Decimal(settings.tier_premium_multipliers[tier.value]),
            collateral_ratio_ppm=int(settings.tier_collateral_ratio_ppm[tier.value]),
        )

    return PremiumParameters(
        risk_free_rate=settings.premium_risk_free_rate,
        protocol_fee=settings.premium_protocol_fee,
        risk_load=settings.premium_risk_load,
        duration_factor=settings.premium_duration_factor,
        conservative=terms(RiskTier.Conservative),
        balanced=terms(RiskTier.Balanced),
        aggressive=terms(RiskTier.Aggressive),
        conservative_min_ppm=settings.tier_conservative_min_ppm,
        balanced_min_ppm=settings.tier_balanced_min_ppm,
    )


def wallet_bounds(settings: PremiumSettings) -> WalletBounds:
    return WalletBounds(
        max_open_quotes=settings.max_open_quotes_per_wallet,
        max_tier_share_ppm=settings.max_wallet_tier_share_ppm,
        fee_estimate_ustx=settings.creation_fee_estimate_ustx,
    )


def challenge_bounds(settings: HttpSettings) -> ChallengeBounds:
    return ChallengeBounds(
        per_client=settings.auth_challenges_per_client, per_address=settings.auth_challenges_per_address
    )


def burn_block_seconds(settings: Settings) -> float:
    if settings.burn_block_seconds is not None:
        return settings.burn_block_seconds
    if settings.stacks_network == "devnet" and settings.devnet_block_interval_s > 0:
        return settings.devnet_block_interval_s / settings.devnet_burn_ratio
    return 600.0


def quote_limits(settings: Settings) -> QuoteLimits:
    ttl = settings.quote_ttl_burn_blocks
    if ttl is None:
        ttl = DEVNET_QUOTE_TTL_BURN_BLOCKS if settings.stacks_network == "devnet" else 6
    return QuoteLimits(
        min_amount_sats=settings.min_amount_sats,
        max_amount_sats=settings.max_amount_sats,
        min_strike_ppm=settings.min_strike_ppm,
        max_strike_ppm=settings.max_strike_ppm,
        max_duration_days=settings.max_duration_days,
        burn_blocks_per_day=settings.burn_blocks_per_day,
        quote_ttl_burn_blocks=ttl,
    )


def load_signer(settings: ChainSettings, which: str) -> BackendSigner | None:
    """The `backend` or `quote` key from its file or variable; None when neither is configured."""
    path = getattr(settings, f"{which}_key_file")
    secret = getattr(settings, f"{which}_key")
    if path is not None:
        return BackendSigner.from_file(os.fspath(path), settings.stacks_network)
    if secret is not None:
        return BackendSigner.from_hex(secret.get_secret_value(), settings.stacks_network)
    return None


def price_sources(settings: Settings, http: httpx.AsyncClient) -> tuple[list[PriceSource], LocalPriceFeed | None]:
    if settings.oracle_sources == "local":
        feed = LocalPriceFeed(
            {Asset.BTC_USD: settings.local_btc_price_usd8, Asset.STX_USD: settings.local_stx_price_usd8}
        )
        return list(feed.sources), feed
    return list(production_sources(http)), None
