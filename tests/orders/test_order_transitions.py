"""The order transition table, edge by edge, and the promise an order carries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from notifier.domain.orders import (
    FINAL_STATUSES,
    ORDER_TRANSITIONS,
    Order,
    OrderStatus,
    allowed_from,
    check_order_transition,
    promised_by,
)
from notifier.errors import InvalidTransition

S = OrderStatus
# "delayed" is on either side of shipping: these exits exist on one side only.
BEFORE_SHIPPING = {S.CONFIRMED, S.CANCELLED}
AFTER_SHIPPING = {S.EXCEPTION}

EDGES = [(a, b) for a, targets in ORDER_TRANSITIONS.items() for b in sorted(targets)]


@pytest.mark.parametrize(("current", "target"), EDGES, ids=[f"{a}->{b}" for a, b in EDGES])
def test_every_edge_of_the_table_is_allowed(current: OrderStatus, target: OrderStatus) -> None:
    shipped = current is S.DELAYED and target in AFTER_SHIPPING
    check_order_transition("A-1", current, target, shipped=shipped)


@pytest.mark.parametrize(
    ("current", "target", "shipped", "allowed"),
    [
        (S.DELIVERED, S.PLACED, False, "returned"),
        (S.DELIVERED, S.DELIVERED, False, "returned"),
        (S.CANCELLED, S.PLACED, False, "none: it is final"),
        (S.RETURNED, S.DELIVERED, False, "none: it is final"),
        (S.SHIPPED, S.CANCELLED, True, "delayed, delivered, exception, out_for_delivery"),
        (S.SHIPPED, S.PLACED, True, "delayed, delivered, exception, out_for_delivery"),
        (S.OUT_FOR_DELIVERY, S.SHIPPED, True, "delayed, delivered, exception"),
        (
            S.PLACED,
            S.EXCEPTION,
            False,
            "cancelled, confirmed, delayed, delivered, out_for_delivery, shipped",
        ),
        (
            S.PLACED,
            S.RETURNED,
            False,
            "cancelled, confirmed, delayed, delivered, out_for_delivery, shipped",
        ),
        (S.EXCEPTION, S.CANCELLED, True, "delayed, delivered, out_for_delivery, shipped"),
        (S.DELAYED, S.CANCELLED, True, "delivered, exception, out_for_delivery, shipped"),
        (S.DELAYED, S.CONFIRMED, True, "delivered, exception, out_for_delivery, shipped"),
        (
            S.DELAYED,
            S.EXCEPTION,
            False,
            "cancelled, confirmed, delivered, out_for_delivery, shipped",
        ),
    ],
)
def test_refused_moves_say_what_is_allowed(
    current: OrderStatus, target: OrderStatus, shipped: bool, allowed: str
) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_order_transition("A-1", current, target, shipped=shipped)
    assert str(info.value) == (
        f"order 'A-1' cannot go from '{current}' to '{target}' "
        f"(allowed from '{current}': {allowed})"
    )


@pytest.mark.parametrize("status", [s for s in OrderStatus if s not in FINAL_STATUSES])
def test_an_open_status_may_be_reported_again(status: OrderStatus) -> None:
    check_order_transition("A-1", status, status)  # with news, e.g. a new promised date


def test_the_table_names_every_status_and_final_ones_lead_almost_nowhere() -> None:
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)
    assert {S.DELIVERED, S.CANCELLED, S.RETURNED} == FINAL_STATUSES
    assert {s: ORDER_TRANSITIONS[s] for s in FINAL_STATUSES} == {
        S.DELIVERED: {S.RETURNED},
        S.CANCELLED: set(),
        S.RETURNED: set(),
    }
    # Cancelled only before shipping; returned only after delivery.
    assert {s for s, t in ORDER_TRANSITIONS.items() if S.RETURNED in t} == {S.DELIVERED}
    assert {s for s, t in ORDER_TRANSITIONS.items() if S.CANCELLED in t} == {
        S.PLACED,
        S.CONFIRMED,
        S.DELAYED,
    }
    assert S.CANCELLED not in allowed_from(S.DELAYED, shipped=True)
    assert S.EXCEPTION in allowed_from(S.DELAYED, shipped=True)


@pytest.mark.parametrize(
    ("day", "zone", "expected"),
    [
        (date(2026, 3, 4), "America/New_York", datetime(2026, 3, 5, 5, 0, tzinfo=UTC)),
        (date(2026, 3, 4), "Europe/Paris", datetime(2026, 3, 4, 23, 0, tzinfo=UTC)),
        # The night DST starts in New York: the day ends at 04:00 UTC, not 05:00.
        (date(2026, 3, 8), "America/New_York", datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        (date(2026, 3, 4), "Pacific/Kiritimati", datetime(2026, 3, 4, 10, 0, tzinfo=UTC)),
        (date(2026, 3, 4), "Not/A_Zone", datetime(2026, 3, 5, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_promise_ends_with_the_customers_day(day: date, zone: str, expected: datetime) -> None:
    end = promised_by(day, zone)
    assert end == expected and end is not None and end.utcoffset() is not None


def test_no_date_no_promise() -> None:
    assert promised_by(None, "UTC") is None


def test_context_and_json() -> None:
    at = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    order = Order(
        "A-1",
        "c-1",
        S.SHIPPED,
        date(2026, 3, 4),
        promised_by(date(2026, 3, 4), "UTC"),
        "UPS",
        "1Z",
        at,
        at,
    )
    assert order.as_context() == {
        "id": "A-1",
        "status": "shipped",
        "promised_date": date(2026, 3, 4),
        "promised_by": datetime(2026, 3, 5, tzinfo=UTC),
        "carrier": "UPS",
        "tracking": "1Z",
        "customer_id": "c-1",
        "is_open": True,
    }
    data = order.as_json()
    assert data["promised_date"] == "2026-03-04"
    assert data["promised_by"] == "2026-03-05T00:00:00+00:00"
    assert data["updated_at"] == "2026-03-01T18:00:00+00:00"
