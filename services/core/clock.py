"""The one clock of the service."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """Now, timezone-aware, truncated to the millisecond: what BSON stores, so a record read back equals the one
    written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
