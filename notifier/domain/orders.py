"""Orders: statuses, the transition table between them, and the promise we made.

Pure code, no I/O. The store keeps orders as the shop's sources report them; this module
decides which reported changes make sense.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from notifier.errors import InvalidTransition


class OrderStatus(StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELAYED = "delayed"
    EXCEPTION = "exception"
    CANCELLED = "cancelled"
    RETURNED = "returned"


S = OrderStatus

# Sources are often polled tables that only show the latest status, so a forward move may
# skip steps (placed -> delivered for an order we never saw ship). Going back is refused:
# a stale resend must never tell a customer their delivered parcel is "out for delivery".
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # Cancelling is only possible before the parcel leaves; a carrier problem (exception)
    # needs a parcel, so not from here.
    S.PLACED: frozenset(
        {S.CONFIRMED, S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELAYED, S.CANCELLED}
    ),
    S.CONFIRMED: frozenset({S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELAYED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELAYED, S.EXCEPTION}),
    # A missed delivery attempt is "delayed" (next attempt) or "exception" (needs the
    # customer); the van does not go back to "shipped".
    S.OUT_FOR_DELIVERY: frozenset({S.DELIVERED, S.DELAYED, S.EXCEPTION}),
    # Delayed can come before or after shipping, and the status alone does not say which:
    # the table holds the exits of both sides, and `allowed_from` removes the wrong side's
    # (confirmed and cancelled only before shipping, exception only after).
    S.DELAYED: frozenset(
        {S.CONFIRMED, S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.EXCEPTION, S.CANCELLED}
    ),
    # A solved carrier problem puts the parcel back in transit ("shipped") or on the van.
    # Not cancelled: the parcel has left; not returned: only a delivered order comes back.
    S.EXCEPTION: frozenset({S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELAYED}),
    # Delivered closes the delivery story; the one thing left is the customer sending it back.
    S.DELIVERED: frozenset({S.RETURNED}),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}

# The delivery story is over: nothing more is promised, the watchdog stops watching, and
# the same status cannot be reported again with new details.
FINAL_STATUSES: frozenset[OrderStatus] = frozenset({S.DELIVERED, S.CANCELLED, S.RETURNED})
# Statuses that mean the parcel has left the shop: they tell which side of shipping a
# later "delayed" is on.
SHIPPED_STATUSES: frozenset[OrderStatus] = frozenset({S.SHIPPED, S.OUT_FOR_DELIVERY, S.EXCEPTION})
_BEFORE_SHIPPING_ONLY = frozenset({S.CONFIRMED, S.CANCELLED})
_AFTER_SHIPPING_ONLY = frozenset({S.EXCEPTION})
_UTC = ZoneInfo("UTC")


def shipped_by_status(status: OrderStatus) -> bool | None:
    """Whether an order now in `status` has left the shop, where the status alone tells
    (None: only its history does). Nothing moves back to placed or confirmed, and those
    and cancelled are reached only before shipping."""
    if status in SHIPPED_STATUSES:
        return True
    if status in (S.PLACED, S.CONFIRMED, S.CANCELLED):
        return False
    return None


def allowed_from(current: OrderStatus, *, shipped: bool = False) -> frozenset[OrderStatus]:
    """The statuses an order in `current` may move to; `shipped`: it has left the shop."""
    allowed = ORDER_TRANSITIONS[current]
    if current is S.DELAYED:
        allowed -= _BEFORE_SHIPPING_ONLY if shipped else _AFTER_SHIPPING_ONLY
    return allowed


def check_order_transition(
    order_id: str, current: OrderStatus, target: OrderStatus, *, shipped: bool = False
) -> None:
    """Raise InvalidTransition unless `current -> target` is allowed.

    Staying in the same open status is allowed: a second "delayed" may bring a new
    promised date. `shipped` matters only from "delayed" (see the table).
    """
    if current == target and current not in FINAL_STATUSES:
        return
    allowed = allowed_from(current, shipped=shipped)
    if target not in allowed:
        raise InvalidTransition(
            f"order {order_id!r}", current.value, target.value, frozenset(s.value for s in allowed)
        )


def promised_by(promised_date: date | None, timezone: str) -> datetime | None:
    """The instant the promised day ends for the customer, in UTC: late from then on.

    The end of 4 March in New York is 5 March 00:00 there (05:00 UTC). A `timezone` that
    zoneinfo does not know counts as UTC: customers' zones are checked at import.
    """
    if promised_date is None:
        return None
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        zone = _UTC
    end = datetime.combine(promised_date + timedelta(days=1), time(0), tzinfo=zone)
    return end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Order:
    id: str  # the shop's own order id
    customer_id: str
    status: OrderStatus
    promised_date: date | None
    promised_by: datetime | None  # end of promised_date in the customer's zone, aware UTC
    carrier: str | None
    tracking: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES

    def as_context(self) -> dict[str, Any]:
        """The `order` variable of templates and rule conditions."""
        return {
            "id": self.id,
            "status": self.status.value,
            "promised_date": self.promised_date,
            "promised_by": self.promised_by,
            "carrier": self.carrier,
            "tracking": self.tracking,
            "customer_id": self.customer_id,
            "is_open": self.is_open,
        }

    def as_json(self) -> dict[str, Any]:
        data = self.as_context()
        data["promised_date"] = _iso(self.promised_date)
        data["promised_by"] = _iso(self.promised_by)
        data["created_at"] = self.created_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class OrderHistoryEntry:
    """One reported change: the order's date, carrier and tracking after it, and its note."""

    id: int
    order_id: str
    status: OrderStatus
    promised_date: date | None
    carrier: str | None
    tracking: str | None
    note: str | None
    source: str
    occurred_at: datetime
    event_id: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "promised_date": _iso(self.promised_date),
            "carrier": self.carrier,
            "tracking": self.tracking,
            "note": self.note,
            "source": self.source,
            "occurred_at": self.occurred_at.isoformat(),
            "event_id": self.event_id,
        }


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
