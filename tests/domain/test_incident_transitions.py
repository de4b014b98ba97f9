"""The incident transition table."""

from __future__ import annotations

import pytest

from notifier.domain.incidents import (
    INCIDENT_TRANSITIONS,
    IncidentStatus,
    check_incident_transition,
)
from notifier.errors import InvalidTransition

S = IncidentStatus


def test_every_status_has_a_row() -> None:
    assert set(INCIDENT_TRANSITIONS) == set(IncidentStatus)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DECLARED, S.INVESTIGATING),
        (S.INVESTIGATING, S.IDENTIFIED),
        (S.IDENTIFIED, S.MONITORING),
        (S.MONITORING, S.RESOLVED),
        (S.DECLARED, S.RESOLVED),
        (S.MONITORING, S.IDENTIFIED),  # the fix did not hold
        (S.IDENTIFIED, S.IDENTIFIED),  # a new ETA without a new status
    ],
)
def test_allowed(current: IncidentStatus, target: IncidentStatus) -> None:
    check_incident_transition(1, current, target)


@pytest.mark.parametrize("target", list(IncidentStatus))
def test_resolved_is_final(target: IncidentStatus) -> None:
    with pytest.raises(InvalidTransition, match="it is final"):
        check_incident_transition(7, S.RESOLVED, target)


def test_going_back_to_declared_is_refused_with_the_allowed_moves() -> None:
    with pytest.raises(InvalidTransition) as info:
        check_incident_transition(3, S.INVESTIGATING, S.DECLARED)
    assert str(info.value) == (
        "incident 3 cannot go from 'investigating' to 'declared' "
        "(allowed from 'investigating': identified, monitoring, resolved)"
    )
