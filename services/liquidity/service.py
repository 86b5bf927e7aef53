"""Tier availability and collateral reservations (DESIGN §7: capital − locked − reserved ≥ collateral).

`tiers` mirrors the vault (the chain listener writes it from vault events). Its capital is the providers' capital
without the premiums still pending (they vest when their policy closes and never back collateral before), so
capital − locked is exactly the vault's free capital (docs/provider-economics.md). `reservations` holds the collateral
promised to signed quotes that have not reached the chain yet. A reservation is *held* from the moment its
quote is signed, *converted* when the policy's creation confirms (the vault's lock now covers it), *released* when
the creation fails or the quote lapses. Held reservations whose quote expiry height has passed no longer count,
even before the expiry job releases them: the chain would refuse their transaction anyway.

Reservations of one tier are serialized through a per-tier lock document written first in the reserving
transaction: two concurrent reservations conflict on it, the driver retries the loser, and the retry sees the
winner's reservation. So concurrent quotes can never promise more than a tier's free capital.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.chain.api_client import StacksApiClient
from services.chain.clarity import ResponseOk, string_ascii_cv, to_python
from services.core.clock import now_utc
from services.core.errors import ChainUnavailable, InsufficientCapacity
from services.core.models import RiskTier
from services.liquidity.wallet_bounds import WalletBounds, WalletRequest, check_before_capacity, check_tier_share
from services.store.mongo import Document, MongoStore
from services.store.reservations import CONVERTED, HELD, RELEASED, OpenReservation, WalletReservations

log = logging.getLogger(__name__)

__all__ = ["CONVERTED", "HELD", "RELEASED", "LiquidityService", "TierAvailability"]


@dataclass(frozen=True)
class TierAvailability:
    tier: RiskTier
    capital_ustx: int
    locked_ustx: int
    reserved_ustx: int
    updated_at: datetime | None

    @property
    def available_ustx(self) -> int:
        return max(0, self.capital_ustx - self.locked_ustx - self.reserved_ustx)


class LiquidityService:
    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._tiers = store.db.tiers
        self._reservations = store.db.reservations
        self._locks = store.db.tier_locks
        self._wallets = WalletReservations(store)

    async def availability(self, burn_height: int, session: AsyncClientSession | None = None) -> list[TierAvailability]:
        return [await self.tier_availability(tier, burn_height, session) for tier in RiskTier]

    async def tier_availability(
        self, tier: RiskTier, burn_height: int, session: AsyncClientSession | None = None
    ) -> TierAvailability:
        ledger = await self._tiers.find_one({"_id": tier.value}, session=session) or {}
        return TierAvailability(
            tier=tier,
            capital_ustx=int(ledger.get("capital_ustx", 0)),
            locked_ustx=int(ledger.get("locked_ustx", 0)),
            reserved_ustx=await self._reserved(tier, burn_height, session),
            updated_at=ledger.get("updated_at"),
        )

    async def _reserved(self, tier: RiskTier, burn_height: int, session: AsyncClientSession | None) -> int:
        pipeline: list[Document] = [
            {"$match": {"tier": tier.value, "status": HELD, "expires_burn_height": {"$gte": burn_height}}},
            {"$group": {"_id": None, "total": {"$sum": "$amount_ustx"}}},
        ]
        cursor = await self._reservations.aggregate(pipeline, session=session)
        rows = await cursor.to_list(length=1)
        return int(rows[0]["total"]) if rows else 0

    async def reserve(
        self,
        session: AsyncClientSession,
        *,
        quote_id: str,
        tier: RiskTier,
        amount_ustx: int,
        policy_id: str,
        owner: str,
        expires_burn_height: int,
        burn_height: int,
        premium_ustx: int = 0,
        wallet: tuple[WalletBounds, int] | None = None,
    ) -> TierAvailability:
        """Hold `amount_ustx` of `tier` for a signed quote, inside the caller's transaction. With `wallet`
        (its bounds and the owner's STX balance on chain), the owner's own bounds are checked under its lock."""
        request: WalletRequest | None = None
        open_now: list[OpenReservation] = []
        if wallet is not None:
            bounds, balance = wallet
            # The owner's lock, then the tier's: every creation takes them in this order.
            await self._wallets.lock(owner, session)
            open_now = await self._wallets.open_for(owner, burn_height, session)
            request = WalletRequest(tier.value, amount_ustx, premium_ustx, balance)
            check_before_capacity(bounds, request, open_now)
        # Written first: concurrent reservations of this tier conflict here and are retried one after another.
        await self._locks.update_one({"_id": tier.value}, {"$inc": {"seq": 1}}, upsert=True, session=session)
        availability = await self.tier_availability(tier, burn_height, session)
        if availability.available_ustx < amount_ustx:
            raise InsufficientCapacity(
                f"the {tier.value} tier has {availability.available_ustx} uSTX free, "
                f"this policy needs {amount_ustx} uSTX of collateral",
                tier=tier.value,
                availableUstx=str(availability.available_ustx),
                requiredUstx=str(amount_ustx),
            )
        if wallet is not None and request is not None:
            check_tier_share(wallet[0], request, open_now, availability.capital_ustx)
        now = now_utc()
        await self._reservations.insert_one(
            {
                "_id": quote_id,
                "tier": tier.value,
                "amount_ustx": amount_ustx,
                "premium_ustx": premium_ustx,
                "fee_ustx": wallet[0].fee_estimate_ustx if wallet is not None else 0,
                "policy_id": policy_id,
                "owner": owner,
                "expires_burn_height": expires_burn_height,
                "status": HELD,
                "created_at": now,
                "updated_at": now,
            },
            session=session,
        )
        return availability

    async def release(self, quote_id: str, reason: str, session: AsyncClientSession | None = None) -> bool:
        """Give a held reservation back (creation failed, quote lapsed). False if it was not held."""
        return await self._finish(quote_id, RELEASED, reason, session)

    async def convert(self, quote_id: str, session: AsyncClientSession | None = None) -> bool:
        """The policy is on chain: the vault's lock replaces the reservation. False if it was not held."""
        return await self._finish(quote_id, CONVERTED, "created on chain", session)

    async def confirm_created(self, quote_ids: list[str], session: AsyncClientSession) -> int:
        """The creations of these quotes are confirmed on chain (the listener): the vault's lock replaces their
        reservations, held or already released (a late confirmation wins over a lapse), in one write."""
        if not quote_ids:
            return 0
        result = await self._reservations.update_many(
            {"_id": {"$in": quote_ids}, "status": {"$in": [HELD, RELEASED]}},
            {"$set": {"status": CONVERTED, "reason": "policy-created confirmed", "updated_at": now_utc()}},
            session=session,
        )
        return result.modified_count

    async def _finish(self, quote_id: str, status: str, reason: str, session: AsyncClientSession | None) -> bool:
        result = await self._reservations.update_one(
            {"_id": quote_id, "status": HELD},
            {"$set": {"status": status, "reason": reason, "updated_at": now_utc()}},
            session=session,
        )
        if result.modified_count:
            log.info("reservation %s %s (%s)", quote_id, status, reason, extra={"quote_id": quote_id})
        return bool(result.modified_count)

    async def sync_from_chain(self, chain: StacksApiClient, vault_contract_id: str) -> list[TierAvailability]:
        """Overwrite the tier mirror with the vault's current totals (read-only `get-tier`).

        Only for tiers the listener has not mirrored yet (no `last_event`): once it has, the listener alone keeps
        them, event by event (it folds each vault event onto the document). Reads the chain tip's state, which may
        be ahead of the listener's confirmed view until it catches up.
        """
        address = vault_contract_id.split(".", 1)[0]
        for tier in RiskTier:
            value = to_python(
                await chain.call_read_only(vault_contract_id, "get-tier", [string_ascii_cv(tier.value)], sender=address)
            )
            if not isinstance(value, ResponseOk) or not isinstance(value.value, dict):
                raise ChainUnavailable(f"the vault's get-tier({tier.value}) answered {value!r}")
            totals = value.value
            try:
                await self._tiers.update_one(
                    {"_id": tier.value, "last_event": None},
                    {
                        "$set": {
                            "capital_ustx": int(totals["capital-ustx"]),
                            "locked_ustx": int(totals["locked-ustx"]),
                            "pending_premiums_ustx": int(totals["pending-premiums-ustx"]),
                            "updated_at": now_utc(),
                            "synced_from": "get-tier",
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # the listener mirrors this tier already: it stays the only writer
        tip = await chain.get_tip()
        return await self.availability(tip.burn_block_height)

    async def reservation(self, quote_id: str) -> dict[str, Any] | None:
        return await self._reservations.find_one({"_id": quote_id})

    # WP-D implements this
    async def reopen(self, quote_id: str, reason: str, session: AsyncClientSession) -> None:
        """The policy's creation left the chain (a reorg): hold its converted reservation again."""
        await self._reservations.update_one(
            {"_id": quote_id, "status": CONVERTED},
            {"$set": {"status": HELD, "reason": reason, "updated_at": now_utc()}},
            session=session,
        )
