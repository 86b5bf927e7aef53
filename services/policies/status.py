"""The detailed-status machine of DESIGN §6.1, written down once as data.

Every status change in the service goes through `check_transition`, which consults `TRANSITIONS`. A confirmed
chain event always wins over an off-chain intermediate status, so the `CHAIN` rows also lead out of the failed
and intermediate statuses into the state the chain confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from services.errors import Conflict


class StatusDetailed(StrEnum):
    PENDING_CREATION = "PendingCreation"
    ACTIVE = "Active"
    SETTLING = "Settling"
    SETTLED = "Settled"
    EXPIRING = "Expiring"
    EXPIRED = "Expired"
    FAILED_CREATION = "FailedCreation"
    FAILED_SETTLEMENT = "FailedSettlement"
    FAILED_EXPIRATION = "FailedExpiration"


class OnChainStatus(IntEnum):
    ACTIVE = 0
    SETTLED = 1
    EXPIRED = 2


class Cause(StrEnum):
    """What moved a policy: recorded with every transition in `policy_events`."""

    REQUEST = "request"  # a user's API request
    CHAIN = "chain"  # a confirmed contract event
    MONITOR = "monitor"  # the transaction monitor saw a tx fail, drop, or a quote lapse
    JOB = "job"  # a background job (expiration, retries)
    OPERATOR = "operator"  # an operator's retry
    RECONCILE = "reconcile"  # drift repaired from a read-only contract call


S = StatusDetailed
TERMINAL: frozenset[StatusDetailed] = frozenset({S.SETTLED, S.EXPIRED})


@dataclass(frozen=True)
class Transition:
    source: StatusDetailed
    target: StatusDetailed
    causes: frozenset[Cause]


def _t(source: StatusDetailed, target: StatusDetailed, *causes: Cause) -> Transition:
    return Transition(source, target, frozenset(causes))


_CHAIN = (Cause.CHAIN, Cause.RECONCILE)
_RETRY = (Cause.OPERATOR, Cause.JOB)

TRANSITIONS: tuple[Transition, ...] = (
    # creation
    _t(S.PENDING_CREATION, S.ACTIVE, *_CHAIN),
    _t(S.PENDING_CREATION, S.FAILED_CREATION, Cause.MONITOR, Cause.JOB),
    _t(S.FAILED_CREATION, S.ACTIVE, *_CHAIN),  # a late confirmation wins over our failure verdict
    # activation (settlement)
    _t(S.ACTIVE, S.SETTLING, Cause.REQUEST),
    _t(S.SETTLING, S.SETTLED, *_CHAIN),
    _t(S.SETTLING, S.FAILED_SETTLEMENT, Cause.MONITOR, Cause.JOB),
    _t(S.FAILED_SETTLEMENT, S.SETTLING, *_RETRY),
    _t(S.FAILED_SETTLEMENT, S.SETTLED, *_CHAIN),
    _t(S.ACTIVE, S.SETTLED, *_CHAIN),
    _t(S.EXPIRING, S.SETTLED, *_CHAIN),  # a settlement confirmed at the expiration height, seen late
    # expiration
    _t(S.ACTIVE, S.EXPIRING, Cause.JOB, Cause.OPERATOR),
    _t(S.EXPIRING, S.EXPIRED, *_CHAIN),
    _t(S.EXPIRING, S.FAILED_EXPIRATION, Cause.MONITOR, Cause.JOB),
    _t(S.FAILED_EXPIRATION, S.EXPIRING, *_RETRY),
    _t(S.FAILED_EXPIRATION, S.EXPIRED, *_CHAIN),
    _t(S.ACTIVE, S.EXPIRED, *_CHAIN),
    _t(S.SETTLING, S.EXPIRED, *_CHAIN),  # settlement never made it; the policy expired on chain
    _t(S.FAILED_SETTLEMENT, S.EXPIRED, *_CHAIN),
)

_INDEX: dict[tuple[StatusDetailed, StatusDetailed], frozenset[Cause]] = {
    (t.source, t.target): t.causes for t in TRANSITIONS
}


def allowed_causes(source: StatusDetailed, target: StatusDetailed) -> frozenset[Cause]:
    return _INDEX.get((source, target), frozenset())


def is_allowed(source: StatusDetailed, target: StatusDetailed, cause: Cause) -> bool:
    return cause in allowed_causes(source, target)


class InvalidTransition(Conflict):
    """The status machine does not allow this move (or not for this cause)."""


def check_transition(source: StatusDetailed, target: StatusDetailed, cause: Cause) -> None:
    if not is_allowed(source, target, cause):
        raise InvalidTransition(
            f"a policy cannot move from {source.value} to {target.value} by {cause.value}",
            source=source.value,
            target=target.value,
            cause=cause.value,
        )
