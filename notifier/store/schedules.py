"""Schedules: create, cancel, and claim due ones with a lease, like the outbox."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.schedules_table import schedules

PENDING = "pending"
FIRING = "firing"
DONE = "done"
CANCELLED = "cancelled"
SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    kind: str  # "followup" or "deadline"
    name: str
    subject_type: str
    subject_id: str
    event_id: int | None
    due_at: datetime
    every_seconds: int | None
    max_times: int | None
    fired: int
    payload: dict[str, Any]


def _schedule(row: Row[Any]) -> Schedule:
    return Schedule(
        id=row.id,
        kind=row.kind,
        name=row.name,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        event_id=row.event_id,
        due_at=row.due_at,
        every_seconds=row.every_seconds,
        max_times=row.max_times,
        fired=row.fired,
        payload=dict(row.payload),
    )


# Planning an event may arm and cancel deadlines: built once, as building them cost more
# than running them.
_CREATE = insert(schedules).returning(schedules.c.id)
_CANCEL = (
    update(schedules)
    .where(
        schedules.c.id.in_(bindparam("ids", expanding=True)),
        schedules.c.status.in_([PENDING, FIRING]),
    )
    .values(status=CANCELLED, claimed_by=None)
)


async def create(
    conn: AsyncConnection,
    *,
    kind: str,
    name: str,
    subject_type: str,
    subject_id: str,
    due_at: datetime,
    now: datetime,
    event_id: int | None = None,
    every: timedelta | None = None,
    max_times: int | None = None,
    payload: dict[str, Any] | None = None,
    fired: int = 0,
) -> int:
    result = await conn.execute(
        _CREATE,
        {
            "kind": kind,
            "name": name,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "event_id": event_id,
            "due_at": due_at,
            "every_seconds": int(every.total_seconds()) if every else None,
            "max_times": max_times,
            "fired": fired,
            "status": PENDING,
            "payload": payload or {},
            "created_at": now,
            "updated_at": now,
        },
    )
    return int(result.scalar_one())


async def pending_for_subject(
    conn: AsyncConnection,
    subject_type: str,
    subject_id: str,
    *,
    kind: str | None = None,
    name: str | None = None,
) -> list[Schedule]:
    query = _pending_for_subject(kind is not None, name is not None)
    params = {"subject_type": subject_type, "subject_id": subject_id, "kind": kind, "name": name}
    return [_schedule(r) for r in (await conn.execute(query, params)).all()]


@functools.cache
def _pending_for_subject(by_kind: bool, by_name: bool) -> Select[Any]:
    # Built once per shape: planning each event runs it, and building a statement costs
    # SQLAlchemy more than running it on SQLite.
    query = select(schedules).where(
        schedules.c.subject_type == bindparam("subject_type"),
        schedules.c.subject_id == bindparam("subject_id"),
        schedules.c.status == PENDING,
    )
    if by_kind:
        query = query.where(schedules.c.kind == bindparam("kind"))
    if by_name:
        query = query.where(schedules.c.name == bindparam("name"))
    return query.order_by(schedules.c.id)


async def cancel(conn: AsyncConnection, ids: Sequence[int], *, reason: str, now: datetime) -> int:
    if not ids:
        return 0
    result = await conn.execute(
        _CANCEL, {"ids": list(ids), "reason": reason, "updated_at": now}
    )
    return max(result.rowcount, 0)


async def claim_due(
    conn: AsyncConnection, *, worker: str, now: datetime, lease: timedelta, limit: int = 50
) -> list[Schedule]:
    """Claim schedules due by `now` (and those whose claimer's lease ran out)."""
    expired = (
        update(schedules)
        .where(schedules.c.status == FIRING, schedules.c.claimed_until < now)
        .values(status=PENDING, claimed_by=None, claimed_until=None)
    )
    await conn.execute(expired)
    due = (
        select(schedules.c.id)
        .where(schedules.c.status == PENDING, schedules.c.due_at <= now)
        .order_by(schedules.c.due_at, schedules.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = [r[0] for r in (await conn.execute(due)).all()]
    if not ids:
        return []
    rows = (
        await conn.execute(
            update(schedules)
            .where(schedules.c.id.in_(ids))
            .values(status=FIRING, claimed_by=worker, claimed_until=now + lease, updated_at=now)
            .returning(*schedules.c)
        )
    ).all()
    return sorted((_schedule(r) for r in rows), key=lambda s: (s.due_at, s.id))


async def renew_claims(
    conn: AsyncConnection, *, worker: str, ids: Sequence[int], until: datetime
) -> set[int]:
    """Extend `worker`'s claims on the schedules `ids` (still firing) to `until`. Returns the
    ids it still held."""
    if not ids:
        return set()
    result = await conn.execute(
        update(schedules)
        .where(
            schedules.c.id.in_(list(ids)),
            schedules.c.status == FIRING,
            schedules.c.claimed_by == worker,
        )
        .values(claimed_until=until)
        .returning(schedules.c.id)
    )
    return {int(row[0]) for row in result.all()}


async def release_claimed(conn: AsyncConnection, worker: str, now: datetime) -> int:
    """Give back the schedules `worker` is firing (it is stopping): due again at once for any
    worker, as after an expired lease; a follow-up's fan-out is idempotent by key."""
    result = await conn.execute(
        update(schedules)
        .where(schedules.c.status == FIRING, schedules.c.claimed_by == worker)
        .values(status=PENDING, claimed_by=None, claimed_until=None, updated_at=now)
    )
    return max(result.rowcount, 0)


async def finish(
    conn: AsyncConnection,
    schedule_id: int,
    *,
    status: str,
    now: datetime,
    reason: str | None = None,
    fired: int | None = None,
    next_due: datetime | None = None,
) -> None:
    """Close a claimed schedule, or put it back as pending for its next repeat."""
    values: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "claimed_by": None,
        "claimed_until": None,
        "updated_at": now,
    }
    if fired is not None:
        values["fired"] = fired
    if next_due is not None:
        values["due_at"] = next_due
    await conn.execute(update(schedules).where(schedules.c.id == schedule_id).values(**values))


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    query = select(func.min(schedules.c.due_at)).where(schedules.c.status == PENDING)
    value = (await conn.execute(query)).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


async def oldest_due(conn: AsyncConnection, now: datetime) -> datetime | None:
    """The due time of the oldest schedule still waiting to fire at `now` (ix_schedules_due):
    how far behind the workers are."""
    query = select(func.min(schedules.c.due_at)).where(
        schedules.c.status == PENDING, schedules.c.due_at <= now
    )
    value = await conn.scalar(query)
    return value if isinstance(value, datetime) else None


async def for_subject(conn: AsyncConnection, subject_type: str, subject_id: str) -> list[Row[Any]]:
    query = (
        select(schedules)
        .where(schedules.c.subject_type == subject_type, schedules.c.subject_id == subject_id)
        .order_by(schedules.c.id)
    )
    return list((await conn.execute(query)).all())
