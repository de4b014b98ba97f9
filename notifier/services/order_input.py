"""Validating a reported order change, from whichever door it came in.

The CLI, a file line and a source row all arrive as loose values; they leave as an
OrderChange or an InputError that names the field, in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from notifier.domain.orders import OrderStatus
from notifier.errors import InputError

MAX_NOTE = 4000
# A promised date further than this from today is a typo (2062 for 2026), not a promise.
MAX_DAYS_AWAY = 3660
# Column sizes of the orders tables: longer values would fail the whole batch there.
_LIMITS = {"order_id": 128, "customer_id": 128, "carrier": 64, "tracking": 128, "source": 128}


@dataclass(frozen=True, slots=True)
class OrderChange:
    """A reported change, validated; None means "not given": keep what the order has."""

    order_id: str
    status: OrderStatus
    customer_id: str | None
    promised_date: date | None
    carrier: str | None
    tracking: str | None
    note: str | None
    source: str


def parse_change(record: Mapping[str, object], source: str, now: datetime) -> OrderChange:
    """Validate raw values (from the CLI, a file line or a source row)."""
    return OrderChange(
        order_id=_required(record, "order_id"),
        status=_status(record.get("status")),
        customer_id=_line(record, "customer_id"),
        promised_date=_date(record.get("promised_date"), now),
        carrier=_line(record, "carrier"),
        tracking=_line(record, "tracking"),
        note=_note(record.get("note")),
        source=_required({"source": source}, "source"),
    )


def _text(field: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and field.endswith("_id"):
        value = str(value)  # shops' JSON often has numeric ids
    if not isinstance(value, str):
        raise InputError(f"{field}: expected text, got {type(value).__name__}")
    return value.strip() or None


def _line(record: Mapping[str, object], field: str) -> str | None:
    value = _text(field, record.get(field))
    if value is None:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(f"{field}: must be one line of text, without control characters")
    if len(value) > _LIMITS[field]:
        raise InputError(f"{field}: at most {_LIMITS[field]} characters (got {len(value)})")
    return value


def _required(record: Mapping[str, object], field: str) -> str:
    value = _line(record, field)
    if value is None:
        raise InputError(f"{field}: must not be empty")
    return value


def _status(value: object) -> OrderStatus:
    text = _text("status", value)
    if text is None:
        raise InputError("status: must not be empty")
    try:
        return OrderStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in OrderStatus)
        raise InputError(f"status: {text!r} is not one of {known}") from None


def _date(value: object, now: datetime) -> date | None:
    if isinstance(value, datetime):
        raise InputError("promised_date: give a date (YYYY-MM-DD), not a date and time")
    if not isinstance(value, date):
        text = _text("promised_date", value)
        if text is None:
            return None
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise InputError(f"promised_date: {text!r} is not a date (YYYY-MM-DD)") from None
    if abs((value - now.date()).days) > MAX_DAYS_AWAY:
        raise InputError(f"promised_date: {value.isoformat()} is more than 10 years from today")
    return value


def _note(value: object) -> str | None:
    text = _text("note", value)
    if text is not None and len(text) > MAX_NOTE:
        raise InputError(f"note: at most {MAX_NOTE} characters (got {len(text)})")
    return text
