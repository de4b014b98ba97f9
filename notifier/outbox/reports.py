"""The queries behind an incident's report: every count is made in the database.

An incident may reach millions of customers: nothing here loads one row per customer.
Percentiles of "time to first message" are read with ORDER BY ... OFFSET on the grouped
rows, and "told before they called" is one join of contacts with the first sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Subquery, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.api_tables import contacts
from notifier.store.tables import outbox

OPERATIONS_ID = "operations"  # engine.fanout's id for messages to operations


def _about(incident_id: int) -> ColumnElement[bool]:
    return and_(
        outbox.c.subject_type == "incident",
        outbox.c.subject_id == str(incident_id),
        outbox.c.customer_id != OPERATIONS_ID,
    )


@dataclass(frozen=True, slots=True)
class Bucket:
    channel: str
    status: str
    reason: str | None
    count: int
    sent: int  # of them, how many reached the provider (sent_at set)


async def buckets(conn: AsyncConnection, incident_id: int) -> list[Bucket]:
    """Customer messages about the incident by channel, status and reason."""
    query = (
        select(
            outbox.c.channel,
            outbox.c.status,
            outbox.c.reason,
            func.count(),
            func.count(outbox.c.sent_at),
        )
        .where(_about(incident_id))
        .group_by(outbox.c.channel, outbox.c.status, outbox.c.reason)
    )
    return [Bucket(*row) for row in (await conn.execute(query)).all()]


async def affected_count(conn: AsyncConnection, incident_id: int) -> int:
    query = select(func.count(outbox.c.customer_id.distinct())).where(_about(incident_id))
    return int((await conn.execute(query)).scalar_one())


def _firsts(incident_id: int) -> Subquery:
    """Each customer of the incident with their first sent message (NULL: none sent)."""
    return (
        select(outbox.c.customer_id.label("customer_id"), func.min(outbox.c.sent_at).label("first"))
        .where(_about(incident_id))
        .group_by(outbox.c.customer_id)
        .subquery()
    )


async def first_message_times(
    conn: AsyncConnection, incident_id: int, fractions: tuple[float, ...]
) -> tuple[int, list[datetime | None]]:
    """(customers told, the time by which each fraction of them had their first message)."""
    firsts = _firsts(incident_id)
    told = select(firsts.c.first).where(firsts.c.first.is_not(None))
    count = int(
        (await conn.execute(select(func.count()).select_from(told.subquery()))).scalar_one()
    )
    times: list[datetime | None] = []
    for fraction in fractions:
        if count == 0:
            times.append(None)
            continue
        # The k-th first message, k = ceil(fraction * count): the nearest-rank percentile.
        rank = max(1, math.ceil(fraction * count))
        query = told.order_by(firsts.c.first).offset(rank - 1).limit(1)
        times.append((await conn.execute(query)).scalar_one())
    return count, times


async def contacts_against_firsts(
    conn: AsyncConnection, incident_id: int, since: datetime, until: datetime
) -> list[tuple[str, datetime, datetime | None]]:
    """(customer, first contact in [since, until], first message sent or None) for each
    customer of the incident who contacted us in the window."""
    firsts = _firsts(incident_id)
    contacted = func.min(contacts.c.at)
    query = (
        select(contacts.c.customer_id, contacted, firsts.c.first)
        .join(firsts, firsts.c.customer_id == contacts.c.customer_id)
        .where(contacts.c.at >= since, contacts.c.at <= until)
        .group_by(contacts.c.customer_id, firsts.c.first)
    )
    return [(cid, at, first) for cid, at, first in (await conn.execute(query)).all()]


# How an operations alert words an outbox status: going out now, held (quiet hours, the
# grouping window), or not sent at all. Standby copies are a reserve, not a message.
_TOLD_AS = {
    "pending": "now",
    "sending": "now",
    "sent": "now",
    "delivered": "now",
    "deferred": "held",
    "grouping": "held",
    "suppressed": "not_sent",
    "failed": "not_sent",
    "cancelled": "not_sent",
    "superseded": "not_sent",
}


async def told_for_event(
    conn: AsyncConnection, event_id: int, channels: list[str]
) -> dict[str, dict[str, int]]:
    """What the customer rules of one event planned, for the operations alert about it:
    {"now" | "held" | "not_sent": {channel: count}}, every channel present."""
    query = (
        select(outbox.c.channel, outbox.c.status, func.count())
        .where(outbox.c.event_id == event_id, outbox.c.customer_id != OPERATIONS_ID)
        .group_by(outbox.c.channel, outbox.c.status)
    )
    told = {way: dict.fromkeys(channels, 0) for way in ("now", "held", "not_sent")}
    for channel, status, count in (await conn.execute(query)).all():
        way = _TOLD_AS.get(status)
        if way is not None:
            told[way][channel] = told[way].get(channel, 0) + int(count)
    return told
