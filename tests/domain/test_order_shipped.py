"""`shipped_by_status` answers only where the transition table makes the status alone tell
whether the parcel has left: checked against every state reachable from "placed"."""

from __future__ import annotations

from notifier.domain.orders import (
    SHIPPED_STATUSES,
    OrderStatus,
    allowed_from,
    shipped_by_status,
)


def _reachable() -> set[tuple[OrderStatus, bool]]:
    """(status, has shipped) of every order history the table allows."""
    start = (OrderStatus.PLACED, False)
    seen = {start}
    todo = [start]
    while todo:
        status, shipped = todo.pop()
        for following in allowed_from(status, shipped=shipped):
            state = (following, shipped or following in SHIPPED_STATUSES)
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return seen


def test_the_status_tells_only_where_every_history_agrees() -> None:
    states = _reachable()
    for status in OrderStatus:
        possible = {shipped for s, shipped in states if s is status}
        told = shipped_by_status(status)
        if told is not None:
            assert possible == {told}, status
    # And it does tell for the common ones, or the history would be read for nothing.
    assert shipped_by_status(OrderStatus.PLACED) is False
    assert shipped_by_status(OrderStatus.SHIPPED) is True
    assert shipped_by_status(OrderStatus.DELAYED) is None  # either side of shipping
    assert {shipped for s, shipped in states if s is OrderStatus.DELAYED} == {True, False}
