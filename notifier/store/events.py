"""The event log: append in the caller's transaction, claim for planning with a lease."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Row, String, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update

from notifier.domain.events import Event
from notifier.store.tables import events
from notifier.store.types import UTCDateTime
from notifier.store.wakeup import TOPIC_EVENTS, TOPIC_SCHEDULES, announce_work

# Built once: building a statement (and its cache key) costs SQLAlchemy more than running
# it on SQLite, and these run for every event.
_APPEND = insert(events).returning(events.c.id)
_MARK_PLANNED = (
    update(events)
    .where(events.c.id == bindparam("event_id"))
    .values(claimed_by=None, claimed_until=None)
)


def _event(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        kind=row.kind,
        from_status=row.from_status,
        to_status=row.to_status,
        payload=dict(row.payload),
        occurred_at=row.occurred_at,
    )


async def append_event(
    conn: AsyncConnection,
    *,
    subject_type: str,
    subject_id: str,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    result = await conn.execute(
        _APPEND,
        {
            "subject_type": subject_type,
            "subject_id": subject_id,
            "kind": kind,
            "from_status": from_status,
            "to_status": to_status,
            "payload": payload,
            "occurred_at": now,
        },
    )
    event_id = int(result.scalar_one())
    # Idle workers wake at commit (PostgreSQL NOTIFY), not at their next poll.
    await announce_work(conn, TOPIC_EVENTS)
    return event_id


async def any_unplanned(conn: AsyncConnection, *, now: datetime) -> bool:
    """Whether an event waits for planning that no live claim holds: a read, so that a
    worker with nothing to plan looks without taking SQLite's write lock (which the API's
    writes wait for). It may say yes for an event `claim_unplanned` then skips (an older
    event of its subject is still being planned): the claim decides."""
    waiting = (
        select(events.c.id)
        .where(
            events.c.planned_at.is_(None),
            or_(events.c.claimed_until.is_(None), events.c.claimed_until < now),
        )
        .order_by(events.c.id)  # through ix_events_waiting: PostgreSQL would scan the table
        .limit(1)
    )
    return (await conn.execute(waiting)).first() is not None


async def claim_unplanned(
    conn: AsyncConnection, *, worker: str, now: datetime, lease: timedelta, limit: int = 10
) -> list[Event]:
    """Claim events whose rules have not been applied yet, oldest first.

    Only the oldest unplanned event of each subject is eligible, so two workers never plan
    "declared" and "updated" of one incident at once (which could let the older message
    supersede the newer). An expired lease makes an event claimable again: its planning is
    idempotent, so finishing a dead worker's job is safe.

    Eligible events are looked for among the `CLAIM_WINDOW` oldest waiting ones (or ten
    times `limit`, if more): an event is its subject's oldest waiting one exactly when it
    comes first of its subject among them. Events further back wait for the next claim.
    """
    params = {
        "e_now": now,
        "e_worker": worker,
        "e_until": now + lease,
        "e_limit": limit,
        "e_window": max(CLAIM_WINDOW, 10 * limit),
    }
    rows = (await conn.execute(_claim_statement(), params)).all()
    return sorted((_event(r) for r in rows), key=lambda e: e.id)


CLAIM_WINDOW = 200


@functools.cache
def _claim_statement() -> Update:
    """Built once. Every step is bounded by the window, whatever plan the database picks:
    the first version checked each waiting event for an older one of its subject with a
    correlated NOT EXISTS, which PostgreSQL, with the statistics of a young table, ran as
    a nested loop over every waiting event for each (122 ms per claim with 800 waiting:
    the worker fell behind for good)."""
    now = bindparam("e_now", type_=UTCDateTime)
    oldest = (
        select(events.c.id, events.c.subject_type, events.c.subject_id, events.c.claimed_until)
        .where(events.c.planned_at.is_(None))
        .order_by(events.c.id)
        .limit(bindparam("e_window", type_=Integer))
        .subquery("oldest")
    )
    turn = func.row_number().over(
        partition_by=(oldest.c.subject_type, oldest.c.subject_id), order_by=oldest.c.id
    )
    ranked = select(oldest.c.id, oldest.c.claimed_until, turn.label("turn")).subquery("ranked")
    eligible = (
        select(ranked.c.id)
        .where(
            ranked.c.turn == 1,
            or_(ranked.c.claimed_until.is_(None), ranked.c.claimed_until < now),
        )
        .order_by(ranked.c.id)
        .limit(bindparam("e_limit", type_=Integer))
    )
    # Locked, and checked again once locked: another worker may have claimed or planned
    # one since this statement's snapshot; PostgreSQL skips the rows it is claiming now.
    free = (
        select(events.c.id)
        .where(
            events.c.id.in_(eligible.scalar_subquery()),
            events.c.planned_at.is_(None),
            or_(events.c.claimed_until.is_(None), events.c.claimed_until < now),
        )
        .with_for_update(skip_locked=True)
    )
    return (
        update(events)
        .where(events.c.id.in_(free.scalar_subquery()))
        .values(
            claimed_by=bindparam("e_worker", type_=String),
            claimed_until=bindparam("e_until", type_=UTCDateTime),
        )
        .returning(*events.c)
    )


async def renew_claims(
    conn: AsyncConnection, *, worker: str, ids: list[int], until: datetime
) -> set[int]:
    """Extend `worker`'s claims on the events `ids` (still being planned) to `until`.
    Returns the ids it still held: one missing was planned or taken over meanwhile."""
    if not ids:
        return set()
    result = await conn.execute(
        update(events)
        .where(
            events.c.id.in_(ids),
            events.c.claimed_by == worker,
            events.c.planned_at.is_(None),
        )
        .values(claimed_until=until)
        .returning(events.c.id)
    )
    return {int(row[0]) for row in result.all()}


async def release_unplanned(conn: AsyncConnection, worker: str) -> int:
    """Give back the events `worker` claimed and did not finish planning (a database outage
    cut their fan-out, or the worker is stopping): they are planned again at once, by any
    worker, not after the lease.
    Planning is idempotent by key, so what was written before the cut is not written twice."""
    result = await conn.execute(
        update(events)
        .where(events.c.claimed_by == worker, events.c.planned_at.is_(None))
        .values(claimed_by=None, claimed_until=None)
    )
    return max(result.rowcount, 0)


async def mark_planned(conn: AsyncConnection, event_id: int, now: datetime) -> None:
    """Close an event's planning, in the transaction that armed and reviewed its schedules."""
    await conn.execute(_MARK_PLANNED, {"event_id": event_id, "planned_at": now})
    # Planning may have armed or moved schedules: other workers re-read their next due
    # time; and a later event of the same subject may now be planned.
    await announce_work(conn, TOPIC_SCHEDULES, TOPIC_EVENTS)


async def count_unplanned(conn: AsyncConnection) -> int:

    query = select(func.count()).select_from(events).where(events.c.planned_at.is_(None))
    return int((await conn.execute(query)).scalar_one())


async def events_for_subject(
    conn: AsyncConnection, subject_type: str, subject_id: str
) -> list[Event]:
    query = (
        select(events)
        .where(events.c.subject_type == subject_type, events.c.subject_id == subject_id)
        .order_by(events.c.id)
    )
    return [_event(r) for r in (await conn.execute(query)).all()]
