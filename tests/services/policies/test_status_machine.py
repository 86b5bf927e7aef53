"""The status table of DESIGN §6.1, checked as data."""

from __future__ import annotations

import itertools

import pytest

from services.core.status import (
    TERMINAL,
    TRANSITIONS,
    Cause,
    InvalidTransition,
    StatusDetailed,
    check_transition,
    is_allowed,
)

S = StatusDetailed


def test_design_table_rows_are_all_present() -> None:
    design_rows = [
        (S.PendingCreation, S.Active, Cause.CHAIN),
        (S.PendingCreation, S.FailedCreation, Cause.MONITOR),
        (S.Active, S.Settling, Cause.REQUEST),
        (S.Settling, S.Settled, Cause.CHAIN),
        (S.Settling, S.FailedSettlement, Cause.JOB),
        (S.FailedSettlement, S.Settling, Cause.OPERATOR),
        (S.Active, S.Expiring, Cause.JOB),
        (S.Expiring, S.Expired, Cause.CHAIN),
        (S.Expiring, S.FailedExpiration, Cause.JOB),
        (S.FailedExpiration, S.Expiring, Cause.OPERATOR),
    ]
    for source, target, cause in design_rows:
        assert is_allowed(source, target, cause), (source, target, cause)


def test_terminal_statuses_have_no_way_out_but_a_reorg() -> None:
    assert TERMINAL == {S.Settled, S.Expired}
    assert not [t for t in TRANSITIONS if t.source in TERMINAL and t.causes != {Cause.REORG}]


def test_reorg_only_moves_backwards_to_what_preceded_the_orphaned_event() -> None:
    reorg = {(t.source, t.target) for t in TRANSITIONS if Cause.REORG in t.causes}
    assert all(t.causes == {Cause.REORG} for t in TRANSITIONS if Cause.REORG in t.causes)
    assert (S.Active, S.PendingCreation) in reorg
    assert (S.Settled, S.Settling) in reorg and (S.Expired, S.Active) in reorg
    assert not [pair for pair in reorg if pair[1] in TERMINAL or pair[1] is S.FailedCreation]


def test_chain_confirmation_wins_over_failure_verdicts() -> None:
    assert is_allowed(S.FailedCreation, S.Active, Cause.CHAIN)
    assert is_allowed(S.FailedSettlement, S.Settled, Cause.CHAIN)
    assert is_allowed(S.FailedExpiration, S.Expired, Cause.CHAIN)


def test_only_the_chain_or_reconciliation_confirms_final_states() -> None:
    for t in TRANSITIONS:
        if t.target in TERMINAL or (t.target is S.Active):
            assert t.causes <= {Cause.CHAIN, Cause.RECONCILE, Cause.REORG}, t
            assert Cause.REORG not in t.causes or t.source in TERMINAL, t


def test_a_user_request_can_only_start_settlement() -> None:
    assert [(t.source, t.target) for t in TRANSITIONS if Cause.REQUEST in t.causes] == [(S.Active, S.Settling)]


def test_every_status_is_reachable_from_pending_creation() -> None:
    reached = {S.PendingCreation}
    frontier = [S.PendingCreation]
    while frontier:
        current = frontier.pop()
        for t in TRANSITIONS:
            if t.source is current and t.target not in reached:
                reached.add(t.target)
                frontier.append(t.target)
    assert reached == set(S)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(S, S)))
def test_anything_not_in_the_table_is_refused(source: StatusDetailed, target: StatusDetailed) -> None:
    listed = {(t.source, t.target): t.causes for t in TRANSITIONS}
    for cause in Cause:
        if cause in listed.get((source, target), frozenset()):
            check_transition(source, target, cause)
        else:
            with pytest.raises(InvalidTransition):
                check_transition(source, target, cause)
