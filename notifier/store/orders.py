"""Order rows and their history: read and write, always inside a caller's transaction."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, desc, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.orders import (
    FINAL_STATUSES,
    SHIPPED_STATUSES,
    Order,
    OrderHistoryEntry,
    OrderStatus,
)
from notifier.errors import NotFound
from notifier.store.db import dialect_insert
from notifier.store.orders_table import order_events, orders
from notifier.store.tables import customers

_OPEN = sorted(s.value for s in OrderStatus if s not in FINAL_STATUSES)

# The statements of recording and planning an order event, built once: building one
# (and its cache key) cost SQLAlchemy more than running it on SQLite, 60-140 us a time.
_FIND = select(orders).where(orders.c.id == bindparam("order_id"))
# Serialises concurrent changes of one order on PostgreSQL; SQLite already holds the write
# lock from BEGIN IMMEDIATE.
_FIND_FOR_UPDATE = _FIND.with_for_update()
_UPDATE = update(orders).where(orders.c.id == bindparam("order_id"))
_INSERT_HISTORY = insert(order_events).returning(order_events.c.id)
_LAST_NOTE = (
    select(order_events.c.note)
    .where(order_events.c.order_id == bindparam("order_id"))
    .order_by(desc(order_events.c.id))
    .limit(1)
)
_HAS_SHIPPED = select(
    exists().where(
        order_events.c.order_id == bindparam("order_id"),
        order_events.c.status.in_(sorted(s.value for s in SHIPPED_STATUSES)),
    )
)
_TIMEZONE = select(customers.c.timezone).where(customers.c.id == bindparam("customer_id"))


@functools.cache
def _insert_order(dialect: str) -> Any:
    return (
        dialect_insert(dialect)(orders)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(orders.c.id)
    )


def _order(row: Row[Any]) -> Order:
    return Order(
        id=row.id,
        customer_id=row.customer_id,
        status=OrderStatus(row.status),
        promised_date=row.promised_date,
        promised_by=row.promised_by,
        carrier=row.carrier,
        tracking=row.tracking,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _entry(row: Row[Any]) -> OrderHistoryEntry:
    return OrderHistoryEntry(
        id=row.id,
        order_id=row.order_id,
        status=OrderStatus(row.status),
        promised_date=row.promised_date,
        carrier=row.carrier,
        tracking=row.tracking,
        note=row.note,
        source=row.source,
        occurred_at=row.occurred_at,
        event_id=row.event_id,
    )


async def find_order(
    conn: AsyncConnection, order_id: str, *, for_update: bool = False
) -> Order | None:
    query = _FIND_FOR_UPDATE if for_update else _FIND
    row = (await conn.execute(query, {"order_id": order_id})).first()
    return _order(row) if row is not None else None


async def get_order(conn: AsyncConnection, order_id: str, *, for_update: bool = False) -> Order:
    order = await find_order(conn, order_id, for_update=for_update)
    if order is None:
        raise NotFound(f"order {order_id!r} does not exist")
    return order


def _values(order: Order) -> dict[str, Any]:
    return {
        "customer_id": order.customer_id,
        "status": order.status.value,
        "promised_date": order.promised_date,
        "promised_by": order.promised_by,
        "carrier": order.carrier,
        "tracking": order.tracking,
        "updated_at": order.updated_at,
    }


async def insert_order(conn: AsyncConnection, order: Order) -> bool:
    """Insert a new order; False (and nothing written) if its id is already taken.

    Two first events of one order may race on PostgreSQL: the loser learns it here,
    instead of from an IntegrityError that would abort its whole transaction.
    """
    values = {"id": order.id, "created_at": order.created_at, **_values(order)}
    return (await conn.execute(_insert_order(conn.dialect.name), values)).first() is not None


async def update_order(conn: AsyncConnection, order: Order) -> None:
    """Write `order`'s status, promise, carrier, tracking and updated_at."""
    await conn.execute(_UPDATE, {"order_id": order.id, **_values(order)})


async def insert_history(
    conn: AsyncConnection,
    *,
    order: Order,
    note: str | None,
    source: str,
    event_id: int,
    now: datetime,
) -> int:
    """Record the change that brought `order` to its present state."""
    result = await conn.execute(
        _INSERT_HISTORY,
        {
            "order_id": order.id,
            "status": order.status.value,
            "promised_date": order.promised_date,
            "carrier": order.carrier,
            "tracking": order.tracking,
            "note": note,
            "source": source,
            "occurred_at": now,
            "event_id": event_id,
        },
    )
    return int(result.scalar_one())


async def history(conn: AsyncConnection, order_id: str) -> list[OrderHistoryEntry]:
    """Every accepted change of the order, oldest first."""
    query = (
        select(order_events).where(order_events.c.order_id == order_id).order_by(order_events.c.id)
    )
    return [_entry(r) for r in (await conn.execute(query)).all()]


async def last_note(conn: AsyncConnection, order_id: str) -> str | None:
    """The note of the order's latest change (None if it had none)."""
    note: str | None = (
        await conn.execute(_LAST_NOTE, {"order_id": order_id})
    ).scalar_one_or_none()
    return note


async def has_shipped(conn: AsyncConnection, order_id: str) -> bool:
    """Whether the order ever reached a status that means the parcel had left."""
    return bool((await conn.execute(_HAS_SHIPPED, {"order_id": order_id})).scalar_one())


async def list_orders(
    conn: AsyncConnection,
    *,
    customer_id: str | None = None,
    open_only: bool = False,
    limit: int = 100,
) -> list[Order]:
    """Orders, most recently changed first."""
    query = select(orders).order_by(desc(orders.c.updated_at), orders.c.id).limit(limit)
    if customer_id is not None:
        query = query.where(orders.c.customer_id == customer_id)
    if open_only:
        query = query.where(orders.c.status.in_(_OPEN))
    return [_order(r) for r in (await conn.execute(query)).all()]


async def open_orders_due(
    conn: AsyncConnection, *, before: datetime, limit: int = 500
) -> list[Order]:
    """Open orders whose promise ends before `before`, soonest first (for the watchdog).

    `status IN (open statuses)` rather than `NOT IN (final ones)`: the first is a few
    ranges of ix_orders_status_promised_by, the second a scan of every order ever made.
    """
    query = (
        select(orders)
        .where(orders.c.status.in_(_OPEN), orders.c.promised_by < before)
        .order_by(orders.c.promised_by, orders.c.id)
        .limit(limit)
    )
    return [_order(r) for r in (await conn.execute(query)).all()]


async def customer_timezone(conn: AsyncConnection, customer_id: str) -> str:
    """The customer's time zone; NotFound if there is no such customer."""
    zone = (await conn.execute(_TIMEZONE, {"customer_id": customer_id})).scalar_one_or_none()
    if zone is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    return str(zone)
