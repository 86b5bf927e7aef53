"""The detailed-status machine of DESIGN §6.1, written down once as data.

Every status change in the service goes through `check_transition`, which consults `TRANSITIONS`. A confirmed
chain event always wins over an off-chain intermediate status, so the `CHAIN` rows also lead out of the failed
and intermediate statuses into the state the chain confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from services.core.errors import Conflict


class StatusDetailed(StrEnum):
    """Members are named exactly as DESIGN §6.1 names the statuses: the GraphQL enum exposes these names."""

    PendingCreation = "PendingCreation"
    Active = "Active"
    Settling = "Settling"
    Settled = "Settled"
    Expiring = "Expiring"
    Expired = "Expired"
    FailedCreation = "FailedCreation"
    FailedSettlement = "FailedSettlement"
    FailedExpiration = "FailedExpiration"


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
    REORG = "reorg"  # the chain event behind a status was orphaned; re-derived from the remaining events


S = StatusDetailed
TERMINAL: frozenset[StatusDetailed] = frozenset({S.Settled, S.Expired})


@dataclass(frozen=True)
class Transition:
    source: StatusDetailed
    target: StatusDetailed
    causes: frozenset[Cause]


def _t(source: StatusDetailed, target: StatusDetailed, *causes: Cause) -> Transition:
    return Transition(source, target, frozenset(causes))


_CHAIN = (Cause.CHAIN, Cause.RECONCILE)
# A reorg that orphans a policy's `policy-created` sends it back to PendingCreation from any status that
# creation led to; one that orphans its `policy-status-updated` reopens a terminal status to the status the
# policy had before that event (its audit trail says which).
_REORG_CREATION_ORPHANED = (
    S.Active,
    S.Settling,
    S.Expiring,
    S.FailedSettlement,
    S.FailedExpiration,
    S.Settled,
    S.Expired,
)
_REORG_STATUS_ORPHANED = (S.Active, S.Settling, S.Expiring, S.FailedSettlement, S.FailedExpiration)
_RETRY = (Cause.OPERATOR, Cause.JOB)

TRANSITIONS: tuple[Transition, ...] = (
    # creation
    _t(S.PendingCreation, S.Active, *_CHAIN),
    _t(S.PendingCreation, S.FailedCreation, Cause.MONITOR, Cause.JOB),
    _t(S.FailedCreation, S.Active, *_CHAIN),  # a late confirmation wins over our failure verdict
    # activation (settlement)
    _t(S.Active, S.Settling, Cause.REQUEST),
    _t(S.Settling, S.Settled, *_CHAIN),
    _t(S.Settling, S.FailedSettlement, Cause.MONITOR, Cause.JOB),
    _t(S.FailedSettlement, S.Settling, *_RETRY),
    _t(S.FailedSettlement, S.Settled, *_CHAIN),
    _t(S.Active, S.Settled, *_CHAIN),
    _t(S.Expiring, S.Settled, *_CHAIN),  # a settlement confirmed at the expiration height, seen late
    # expiration
    _t(S.Active, S.Expiring, Cause.JOB, Cause.OPERATOR),
    _t(S.Expiring, S.Expired, *_CHAIN),
    _t(S.Expiring, S.FailedExpiration, Cause.MONITOR, Cause.JOB),
    _t(S.FailedExpiration, S.Expiring, *_RETRY),
    _t(S.FailedExpiration, S.Expired, *_CHAIN),
    _t(S.Active, S.Expired, *_CHAIN),
    _t(S.Settling, S.Expired, *_CHAIN),  # settlement never made it; the policy expired on chain
    _t(S.FailedSettlement, S.Expired, *_CHAIN),
    # a settlement that failed and can no longer succeed (the height passed): release the collateral instead
    _t(S.FailedSettlement, S.Expiring, Cause.JOB, Cause.OPERATOR),
    # re-derivation after a reorg (services/listener/reorg.py): the only way back, always recorded
    *(_t(s, S.PendingCreation, Cause.REORG) for s in _REORG_CREATION_ORPHANED),
    *(_t(s, t, Cause.REORG) for s in (S.Settled, S.Expired) for t in _REORG_STATUS_ORPHANED),  # TERMINAL, in order
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
