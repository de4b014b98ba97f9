"""Record what happens to orders: the one implementation behind the CLI, files and watchers.

Each accepted change commits the order, its history row and its event in one transaction.
Sources resend: a change that says nothing new is accepted and ignored, without writing,
so a replay never tells a customer anything twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.orders import (
    Order,
    OrderHistoryEntry,
    OrderStatus,
    check_order_transition,
    promised_by,
)
from notifier.errors import ImportRowError, InputError, InvalidTransition, NotFound
from notifier.services import order_files
from notifier.services.order_input import OrderChange, parse_change
from notifier.store import events as event_store
from notifier.store import orders as store

BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class OrderEventResult:
    order: Order
    event_id: int | None  # None when ignored
    ignored: bool  # the change said nothing new: nothing was written

    def as_json(self) -> dict[str, Any]:
        return {**self.order.as_json(), "event_id": self.event_id, "ignored": self.ignored}


@dataclass(frozen=True, slots=True)
class OrderView:
    order: Order
    history: list[OrderHistoryEntry]

    def as_json(self) -> dict[str, Any]:
        return {**self.order.as_json(), "history": [h.as_json() for h in self.history]}


@dataclass(slots=True)
class OrderImportReport:
    recorded: int = 0  # lines that became an event
    ignored: int = 0  # lines that repeated the order's state
    errors: list[ImportRowError] = field(default_factory=list)


async def record_order_event(
    engine: AsyncEngine,
    order_id: str,
    *,
    status: OrderStatus | str,
    now: datetime,
    customer_id: str | None = None,
    promised_date: date | str | None = None,
    carrier: str | None = None,
    tracking: str | None = None,
    note: str | None = None,
    source: str = "cli",
) -> OrderEventResult:
    """Apply one reported change. The first event of an order creates it and must name an
    existing customer. Raises InputError (a bad value, naming the field), NotFound (an
    unknown customer) or InvalidTransition, with nothing written."""
    change = parse_change(
        {
            "order_id": order_id,
            "status": status,
            "customer_id": customer_id,
            "promised_date": promised_date,
            "carrier": carrier,
            "tracking": tracking,
            "note": note,
        },
        source,
        now,
    )
    async with engine.begin() as conn:
        return await _apply(conn, change, now)


async def import_order_events(
    engine: AsyncEngine,
    path: Path,
    *,
    now: datetime,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> OrderImportReport:
    """Record the events of a .csv or .jsonl file, in file order (see order_files).

    A bad line (a bad value, an unknown customer, an illegal transition) is reported with
    its number and skipped; the others are kept. Lines are recorded `batch_size` at a time,
    one transaction each. A file is a sequence of events: importing it again ignores the
    lines that repeat an order's present state, but an older line that differs from it
    (an earlier date of a delayed order) would be news again.

    `progress`, if given, is called after each batch with the number of lines read so far.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    await asyncio.to_thread(order_files.check_file, path)
    report = OrderImportReport()
    rows = order_files.read_rows(path)
    try:
        while batch := await asyncio.to_thread(_take, rows, batch_size, report.errors):
            async with engine.begin() as conn:
                for line, record in batch:
                    try:
                        result = await _apply(conn, parse_change(record, "import", now), now)
                    except (InputError, NotFound, InvalidTransition) as exc:
                        # Every check runs before the first write of a line, so the batch's
                        # transaction holds only the good lines.
                        report.errors.append(ImportRowError(line, str(exc)))
                        continue
                    if result.ignored:
                        report.ignored += 1
                    else:
                        report.recorded += 1
            if progress is not None:
                progress(report.recorded + report.ignored + len(report.errors))
    finally:
        rows.close()
    if progress is not None:  # the last lines may have been bad ones, in no batch
        progress(report.recorded + report.ignored + len(report.errors))
    report.errors.sort(key=lambda error: error.line)
    return report


async def get_order(engine: AsyncEngine, order_id: str) -> OrderView:
    async with engine.connect() as conn:
        order = await store.get_order(conn, order_id)
        return OrderView(order, await store.history(conn, order_id))


async def list_orders(
    engine: AsyncEngine, *, customer_id: str | None = None, open_only: bool = False
) -> list[Order]:
    async with engine.connect() as conn:
        return await store.list_orders(conn, customer_id=customer_id, open_only=open_only)


def _take(
    rows: Iterator[order_files.Row | ImportRowError], size: int, errors: list[ImportRowError]
) -> list[order_files.Row]:
    batch: list[order_files.Row] = []
    for item in rows:
        if isinstance(item, ImportRowError):
            errors.append(item)
        else:
            batch.append(item)
            if len(batch) >= size:
                break
    return batch


async def _apply(conn: AsyncConnection, change: OrderChange, now: datetime) -> OrderEventResult:
    current = await store.find_order(conn, change.order_id, for_update=True)
    if current is None:
        created = await _create(conn, change, now)
        if created is not None:
            return created
        # Another transaction created it since we looked: carry on from its state.
        current = await store.get_order(conn, change.order_id, for_update=True)
    return await _advance(conn, current, change, now)


async def _create(
    conn: AsyncConnection, change: OrderChange, now: datetime
) -> OrderEventResult | None:
    if change.customer_id is None:
        raise InputError(f"customer_id: needed for the first event of order {change.order_id!r}")
    zone = await store.customer_timezone(conn, change.customer_id)
    order = Order(
        id=change.order_id,
        customer_id=change.customer_id,
        status=change.status,
        promised_date=change.promised_date,
        promised_by=promised_by(change.promised_date, zone),
        carrier=change.carrier,
        tracking=change.tracking,
        created_at=now,
        updated_at=now,
    )
    _check_tracking(order)
    if not await store.insert_order(conn, order):
        return None
    return OrderEventResult(order, await _record(conn, order, None, change, now), False)


async def _advance(
    conn: AsyncConnection, current: Order, change: OrderChange, now: datetime
) -> OrderEventResult:
    if change.customer_id not in (None, current.customer_id):
        raise InputError(
            f"customer_id: order {current.id!r} belongs to customer {current.customer_id!r}, "
            f"not {change.customer_id!r}"
        )
    new = replace(
        current,
        status=change.status,
        promised_date=change.promised_date or current.promised_date,
        carrier=change.carrier or current.carrier,
        tracking=change.tracking or current.tracking,
        updated_at=now,
    )
    if new.promised_date != current.promised_date:
        zone = await store.customer_timezone(conn, current.customer_id)
        new = replace(new, promised_by=promised_by(new.promised_date, zone))
    same = new.status == current.status and (new.promised_date, new.carrier, new.tracking) == (
        current.promised_date,
        current.carrier,
        current.tracking,
    )
    if same and (change.note is None or change.note == await store.last_note(conn, current.id)):
        return OrderEventResult(current, None, True)
    shipped = current.status is OrderStatus.DELAYED and await store.has_shipped(conn, current.id)
    check_order_transition(current.id, current.status, new.status, shipped=shipped)
    _check_tracking(new)
    await store.update_order(conn, new)
    return OrderEventResult(new, await _record(conn, new, current, change, now), False)


async def _record(
    conn: AsyncConnection, order: Order, previous: Order | None, change: OrderChange, now: datetime
) -> int:
    """The event and the history row of the change that made `order` what it is."""
    payload = {
        "promised_date": _iso(order.promised_date),
        # The promise this change replaced, or the same date when it kept it: templates
        # compare the two to say "later than we told you".
        "previous_promised_date": _iso(previous.promised_date) if previous else None,
        "carrier": order.carrier,
        "tracking": order.tracking,
        "note": change.note,
    }
    event_id = await event_store.append_event(
        conn,
        subject_type="order",
        subject_id=order.id,
        kind=f"order.{order.status.value}",
        from_status=previous.status.value if previous else None,
        to_status=order.status.value,
        payload=payload,
        now=now,
    )
    await store.insert_history(
        conn, order=order, note=change.note, source=change.source, event_id=event_id, now=now
    )
    return event_id


def _check_tracking(order: Order) -> None:
    if order.tracking is not None and order.carrier is None:
        raise InputError(f"tracking: order {order.id!r} has no carrier; give the carrier too")


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
