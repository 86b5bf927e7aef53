"""Types of the activation / expiration operations."""

from __future__ import annotations

import strawberry


@strawberry.type(description="What one expiration check did.")
class ExpirationCheck:
    burn_height: int = strawberry.field(description="The burn height the check compared expirations with.")
    expiring: list[strawberry.ID] = strawberry.field(description="Policies moved to Expiring (and queued).")
    skipped: list[strawberry.ID] = strawberry.field(description="Policies someone else moved meanwhile.")
