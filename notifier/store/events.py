"""The event log: append in the caller's transaction, claim for planning with a lease."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.events import Event
from notifier.store.db import TOPIC_EVENTS, TOPIC_SCHEDULES, announce_work
from notifier.store.tables import events


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
        insert(events)
        .values(
            subject_type=subject_type,
            subject_id=subject_id,
            kind=kind,
            from_status=from_status,
            to_status=to_status,
            payload=payload,
            occurred_at=now,
        )
        .returning(events.c.id)
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
    """
    earlier = events.alias("earlier")
    older_pending = exists().where(
        and_(
            earlier.c.subject_type == events.c.subject_type,
            earlier.c.subject_id == events.c.subject_id,
            earlier.c.planned_at.is_(None),
            earlier.c.id < events.c.id,
        )
    )
    candidates = (
        select(events.c.id)
        .where(
            events.c.planned_at.is_(None),
            or_(events.c.claimed_until.is_(None), events.c.claimed_until < now),
            ~older_pending,
        )
        .order_by(events.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = [r[0] for r in (await conn.execute(candidates)).all()]
    if not ids:
        return []
    rows = (
        await conn.execute(
            update(events)
            .where(events.c.id.in_(ids))
            .values(claimed_by=worker, claimed_until=now + lease)
            .returning(*events.c)
        )
    ).all()
    return sorted((_event(r) for r in rows), key=lambda e: e.id)


async def release_unplanned(conn: AsyncConnection, worker: str) -> int:
    """Give back the events `worker` claimed and did not finish planning (a database outage
    cut their fan-out): they are planned again at once, by any worker, not after the lease.
    Planning is idempotent by key, so what was written before the cut is not written twice."""
    result = await conn.execute(
        update(events)
        .where(events.c.claimed_by == worker, events.c.planned_at.is_(None))
        .values(claimed_by=None, claimed_until=None)
    )
    return max(result.rowcount, 0)


async def mark_planned(conn: AsyncConnection, event_id: int, now: datetime) -> None:
    """Close an event's planning, in the transaction that armed and reviewed its schedules."""
    await conn.execute(
        update(events)
        .where(events.c.id == event_id)
        .values(planned_at=now, claimed_by=None, claimed_until=None)
    )
    # Planning may have armed or moved schedules: other workers re-read their next due
    # time; and a later event of the same subject may now be planned.
    await announce_work(conn, TOPIC_SCHEDULES)
    await announce_work(conn, TOPIC_EVENTS)


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
