"""Customers, their services and opt-outs, on SQLite and PostgreSQL, in a caller's transaction."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Row, Select, bindparam, delete, func, or_, select, union_all
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName
from notifier.errors import NotFound
from notifier.store.db import dialect_insert
from notifier.store.tables import customer_services, customers, opt_outs

CHUNK = 1000  # ids per statement: under SQLite's and asyncpg's limits on parameters
ALL_CATEGORIES = "*"
# Opt-outs written by an import carry this reason; only these may be lifted by a later import.
IMPORT_REASON = "import"
_FIELDS = ("name", "email", "phone", "locale", "timezone")
# What a Customer is made of: `attributes` (JSON) and the timestamps are not read.
_COLUMNS = (customers.c.id, *(customers.c[f] for f in _FIELDS))
_BY_ID = select(*_COLUMNS).where(customers.c.id == bindparam("customer_id"))
_DELETE_OPT_OUT = delete(opt_outs).where(
    opt_outs.c.customer_id == bindparam("cid"),
    opt_outs.c.channel == bindparam("ch"),
    opt_outs.c.category == bindparam("cat"),
)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    return (items[start : start + CHUNK] for start in range(0, len(items), CHUNK))


def _among(
    dialect: str,
    column: ColumnElement[Any],
    ids: Sequence[str] | None = None,
    *,
    name: str | None = None,
) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `= ANY(one array parameter)`: one statement whatever
    the count, instead of 1000 parameters expanded in Python and prepared one by one.
    Without `ids`, a statement to build once: the ids come at execution, as `name`.
    """
    values = list(ids) if ids is not None else None
    if dialect == "postgresql":
        return column == sa.any_(bindparam(name, values, type_=postgresql.ARRAY(sa.String())))
    return column.in_(bindparam(name, values, expanding=True))  # SQLite plans each afresh


def _fields(c: Customer | Row[Any]) -> dict[str, Any]:
    return {f: getattr(c, f) for f in _FIELDS}


_ByCustomer = defaultdict[str, set[str]]


async def _details(
    conn: AsyncConnection, ids: Sequence[str], category: str | None
) -> tuple[_ByCustomer, _ByCustomer, _ByCustomer]:
    """Services, applicable opt-outs ("*" or `category`) and the import-made ones among them.

    A UNION ALL of both tables, rows tagged by kind: a page of the fan-out costs one extra
    query whatever its size, not one per customer.
    """
    services: _ByCustomer = defaultdict(set)
    declined: _ByCustomer = defaultdict(set)
    imported: _ByCustomer = defaultdict(set)
    query = _details_query(conn.dialect.name, category or ALL_CATEGORIES)
    for chunk in _chunks(ids):
        for cid, tag, value in (await conn.execute(query, {"ids": list(chunk)})).all():
            (services if tag == "s" else declined)[cid].add(value)
            if tag == "i":
                imported[cid].add(value)
    return services, declined, imported


@functools.cache
def _details_query(dialect: str, category: str) -> Any:
    # Built once per dialect and category: the fan-out runs it for every page, and an order
    # event's planning for its one customer, where building it cost more than running it.
    kind = sa.case((opt_outs.c.reason == IMPORT_REASON, "i"), else_="o")
    return union_all(
        select(customer_services.c.customer_id, sa.literal("s"), customer_services.c.service).where(
            _among(dialect, customer_services.c.customer_id, name="ids")
        ),
        select(opt_outs.c.customer_id, kind, opt_outs.c.channel).where(
            _among(dialect, opt_outs.c.customer_id, name="ids"),
            opt_outs.c.category.in_(sorted({ALL_CATEGORIES, category})),
        ),
    )


async def _customers(
    conn: AsyncConnection, rows: Sequence[Sequence[Any]], category: str | None
) -> list[Customer]:
    """Rows of _COLUMNS as Customers with their services and opt-outs."""
    services, declined, _ = await _details(conn, [row[0] for row in rows], category)
    # Positional, in the order of _COLUMNS: Row._asdict() took a third of a fan-out's time.
    return [
        Customer(i, name, email, phone, loc, tz, frozenset(services[i]), frozenset(declined[i]))
        for i, name, email, phone, loc, tz in rows
    ]


async def upsert_customers(
    conn: AsyncConnection, batch: Sequence[Customer], now: datetime, *, sync_opt_outs: bool = True
) -> UpsertCounts:
    """Create or update `batch`; a customer already stored identically is not written.

    Services are replaced by the given ones. Opt-outs in `customer.opt_outs` are added
    (category "*", reason "import"). With `sync_opt_outs`, import-made opt-outs no longer
    listed are lifted; opt-outs the customer made themselves (STOP, unsubscribe link, API)
    are never lifted by an import: a stale CRM export must not re-subscribe anyone.
    `created_at` and `attributes` are kept on update.
    """
    if len({c.id for c in batch}) != len(batch):
        raise ValueError("upsert_customers got the same customer id twice")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    insert = dialect_insert(conn.dialect.name)
    # Sorted so concurrent imports lock rows in the same order (no deadlock on PostgreSQL).
    for chunk in _chunks(sorted(batch, key=lambda c: c.id)):
        ids = [c.id for c in chunk]
        query = select(*_COLUMNS).where(_among(conn.dialect.name, customers.c.id, ids))
        stored = {row.id: row for row in await conn.execute(query)}
        old_services, old_declined, old_imported = await _details(conn, ids, None)
        rows: list[dict[str, Any]] = []
        replaced: list[str] = []  # customers whose services are rewritten
        services: list[dict[str, str]] = []
        add: list[dict[str, Any]] = []
        lift: list[dict[str, str]] = []
        for c in chunk:
            lifted = old_imported[c.id] - c.opt_outs if sync_opt_outs else set()
            added = c.opt_outs - old_declined[c.id]
            services_changed = c.services != old_services[c.id]
            row = stored.get(c.id)
            same = row is not None and _fields(row) == _fields(c)
            if same and not (lifted or added or services_changed):
                counts["unchanged"] += 1
                continue
            counts["created" if row is None else "updated"] += 1
            rows.append(_fields(c) | {"id": c.id, "created_at": now, "updated_at": now})
            if services_changed:
                replaced.append(c.id)
                services += [{"customer_id": c.id, "service": s} for s in sorted(c.services)]
            add += [{"customer_id": c.id, "channel": ch, "created_at": now} for ch in added]
            lift += [{"cid": c.id, "ch": ch, "cat": ALL_CATEGORIES} for ch in lifted]

        # One executemany per statement. DO NOTHING on conflict: a concurrent import of the
        # same customer may have written the same row between our read and our write.
        if rows:
            upsert = insert(customers).values(attributes={})
            excluded = {f: upsert.excluded[f] for f in (*_FIELDS, "updated_at")}
            await conn.execute(
                upsert.on_conflict_do_update(index_elements=[customers.c.id], set_=excluded), rows
            )
        if replaced:
            where = _among(conn.dialect.name, customer_services.c.customer_id, replaced)
            await conn.execute(delete(customer_services).where(where))
        if services:
            await conn.execute(insert(customer_services).on_conflict_do_nothing(), services)
        if add:
            by_import = insert(opt_outs).values(category=ALL_CATEGORIES, reason=IMPORT_REASON)
            await conn.execute(by_import.on_conflict_do_nothing(), add)
        if lift:
            await conn.execute(_DELETE_OPT_OUT.where(opt_outs.c.reason == IMPORT_REASON), lift)
    return UpsertCounts(**counts)


async def find_customer(
    conn: AsyncConnection, customer_id: str, *, category: str | None = None
) -> Customer | None:
    """The customer with their "*" opt-outs, plus those of `category` if given; or None."""
    row = (await conn.execute(_BY_ID, {"customer_id": customer_id})).first()
    if row is None:
        return None
    return (await _customers(conn, [row], category))[0]


async def get_customer(
    conn: AsyncConnection, customer_id: str, *, category: str | None = None
) -> Customer:
    """As find_customer, but a missing customer is an error."""
    customer = await find_customer(conn, customer_id, category=category)
    if customer is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    return customer


async def known_services(conn: AsyncConnection, limit: int) -> list[str]:
    """The services customers depend on, in order, at most `limit` of them."""
    query = (
        select(customer_services.c.service)
        .distinct()
        .order_by(customer_services.c.service)
        .limit(limit)
    )
    return [str(s) for s in (await conn.execute(query)).scalars()]


async def search_customers(conn: AsyncConnection, query: str, limit: int = 50) -> list[Customer]:
    """Customers whose id, name, email or phone contains `query`, any case, by id; a blank
    query lists. For phones, "+1 (201) 555" finds +12015550123. SQLite folds ASCII case only.
    """
    text = query.strip()
    statement = select(*_COLUMNS).order_by(customers.c.id).limit(limit)
    if text:
        columns = (customers.c.id, customers.c.name, customers.c.email)
        matches = [column.icontains(text, autoescape=True) for column in columns]
        if digits := re.sub(r"[\s().\-]", "", text):
            matches.append(customers.c.phone.contains(digits, autoescape=True))
        statement = statement.where(or_(*matches))
    return await _customers(conn, (await conn.execute(statement)).all(), None)


def _page_ids(services: Sequence[str], after: str | None, size: int) -> Select[tuple[str]]:
    """The next `size` distinct affected ids after `after`, by id: per service, an index scan
    (ix_customer_services_service_customer; PostgreSQL takes the primary key for a service
    most customers have) stopping after `size` rows, then merged: the page is among each
    service's first `size` ids. `service IN (...)` would sort all remaining rows each page.
    """
    parts = []
    for service in services:
        part = select(customer_services.c.customer_id.label("cid"))
        part = part.where(customer_services.c.service == service)
        if after is not None:
            part = part.where(customer_services.c.customer_id > after)
        # Wrapped in a subquery: SQLite refuses ORDER BY/LIMIT on a bare UNION member.
        limited = part.order_by(customer_services.c.customer_id).limit(size).subquery()
        parts.append(select(limited.c.cid))
    merged = union_all(*parts).subquery()
    return select(merged.c.cid).distinct().order_by(merged.c.cid).limit(size)


async def affected_page(
    conn: AsyncConnection,
    services: Sequence[str],
    after: str | None,
    size: int,
    *,
    category: str | None = None,
) -> list[Customer]:
    """The page of stream_affected after id `after`, for a transaction per page."""
    if size < 1:
        raise ValueError("the page size must be at least 1")
    if not services:
        return []
    ids = _page_ids(sorted(set(services)), after, size).subquery()
    query = select(*_COLUMNS).join(ids, ids.c.cid == customers.c.id).order_by(customers.c.id)
    return await _customers(conn, (await conn.execute(query)).all(), category)


async def stream_affected(
    conn: AsyncConnection,
    services: Sequence[str],
    batch_size: int = 1000,
    *,
    category: str | None = None,
) -> AsyncIterator[list[Customer]]:
    """Customers with at least one of `services`, each once, by id, `batch_size` at a time.

    Keyset pagination (`id > last id`): each page is a bounded index scan however far the
    fan-out has gone. Customers carry all their services and their "*" and `category` opt-outs.
    """
    after: str | None = None
    while page := await affected_page(conn, services, after, batch_size, category=category):
        yield page
        if len(page) < batch_size:
            return
        after = page[-1].id


async def count_affected(conn: AsyncConnection, services: Sequence[str]) -> int:
    """How many customers `stream_affected` would yield (an index-only count)."""
    where = customer_services.c.service.in_(sorted(set(services)))
    query = select(func.count(customer_services.c.customer_id.distinct())).where(where)
    return int((await conn.execute(query)).scalar_one()) if services else 0


async def _require(conn: AsyncConnection, customer_id: str) -> None:
    found = await conn.scalar(select(customers.c.id).where(customers.c.id == customer_id))
    if found is None:
        raise NotFound(f"customer {customer_id!r} does not exist")


async def set_opt_out(
    conn: AsyncConnection,
    customer_id: str,
    channel: ChannelName,
    reason: str,
    now: datetime,
    category: str = ALL_CATEGORIES,
) -> None:
    """Record that the customer declined `channel` (for `category`, "*" meaning all).

    Opting out again updates reason and time: a STOP after an import-made opt-out turns it
    into the customer's own, which no later import may lift.
    """
    channel = ChannelName(channel)
    await _require(conn, customer_id)
    key = {"customer_id": customer_id, "channel": channel.value, "category": category}
    values = key | {"reason": reason, "created_at": now}
    insert = dialect_insert(conn.dialect.name)(opt_outs).values(values)
    set_ = {"reason": insert.excluded.reason, "created_at": insert.excluded.created_at}
    await conn.execute(insert.on_conflict_do_update(index_elements=list(key), set_=set_))


async def clear_opt_out(
    conn: AsyncConnection, customer_id: str, channel: ChannelName, category: str = ALL_CATEGORIES
) -> bool:
    """Lift an opt-out (the customer opted back in). False if there was none."""
    channel = ChannelName(channel)
    await _require(conn, customer_id)
    key = {"cid": customer_id, "ch": channel.value, "cat": category}
    return bool((await conn.execute(_DELETE_OPT_OUT, key)).rowcount)


async def services_in_use(conn: AsyncConnection, keys: Sequence[str]) -> set[str]:
    """Which of `keys` at least one customer depends on (a declaration names at most 100)."""
    query = (
        select(customer_services.c.service)
        .where(customer_services.c.service.in_(list(keys)))
        .distinct()
    )
    return {str(s) for s in (await conn.execute(query)).scalars()}
