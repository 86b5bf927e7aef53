"""Watching the backend principal's balance: it pays every status update's fee."""

from __future__ import annotations

import logging

from services.chain.api_client import StacksApiClient
from services.chain.errors import ChainError

log = logging.getLogger(__name__)


class BalanceWatch:
    def __init__(self, chain: StacksApiClient, address: str, low_balance_ustx: int) -> None:
        self._chain = chain
        self._address = address
        self._low = low_balance_ustx

    async def check(self) -> None:
        """Read the balance and warn when it is low; an unreachable API is not this check's business."""
        try:
            account = await self._chain.get_account(self._address)
        except ChainError:
            return
        if account.balance < self._low:
            log.warning(
                "the backend principal %s holds %d uSTX, below %d: fund it or status updates will fail",
                self._address,
                account.balance,
                self._low,
                extra={"backend_balance_ustx": account.balance},
            )
