"""The outbox: every message we decided to send, claimed by dispatchers with a lease.

A row's key is unique, so enqueueing is idempotent; a claim moves rows to `sending` with
`claimed_until`, so a dispatcher that dies mid-send releases them when the lease runs out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    String,
    Update,
    and_,
    bindparam,
    case,
    cast,
    func,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.store.db import dialect_insert
from notifier.store.tables import incidents, outbox
from notifier.store.types import UTCDateTime
from notifier.store.wakeup import TOPIC_OUTBOX, announce_work

# What a dispatcher may claim. Deferred messages (quiet hours) go once their hour has come,
# like retries.
_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value)
_INCIDENT_ID = case((outbox.c.subject_type == "incident", cast(outbox.c.subject_id, Integer)))
# Columns a dispatcher needs; the bodies are read only for the rows it claims.
_CLAIM_COLUMNS = (
    outbox.c.id,
    outbox.c.idempotency_key,
    outbox.c.channel,
    outbox.c.recipient,
    outbox.c.subject,
    outbox.c.body_text,
    outbox.c.body_html,
    outbox.c.attempts,
    outbox.c.customer_id,
    outbox.c.next_attempt_at,
    outbox.c.subject_type,
    # The incident's severity, for headers (no List-Unsubscribe on critical news): read with
    # the claim so that deciding headers costs no query per message.
    select(incidents.c.severity).where(incidents.c.id == _INCIDENT_ID).scalar_subquery().label(
        "severity"
    ),
)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    key: str
    channel: ChannelName
    recipient: str
    subject: str | None
    text: str
    html: str | None
    attempts: int
    customer_id: str
    subject_type: str = ""
    severity: str | None = None  # an incident's; None for other subjects
    due_at: datetime | None = None  # its next_attempt_at when claimed


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert planned rows, skipping keys already there. Returns how many were new."""
    if not rows:
        return 0
    result = await conn.execute(_enqueue(conn.dialect.name), list(rows))
    if any(row["status"] in _WAITING for row in rows):
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


async def supersede(
    conn: AsyncConnection,
    *,
    subject_type: str,
    subject_id: str,
    customer_ids: Sequence[str],
    now: datetime,
    before_event_id: int | None = None,
    rule: str | None = None,
    channel: str | None = None,
    by: str,
) -> int:
    """Mark still-waiting messages about a subject as superseded by newer news.

    Either everything planned for an older event (`before_event_id`), or the earlier
    messages of one follow-up rule (`rule`): a customer held by quiet hours then gets the
    latest follow-up, not a burst of stale ones. With `channel`, only that channel's: the
    news replaces what it can reach, and an email does not silence a waiting SMS.
    """
    result = await conn.execute(
        _supersede(by_event=before_event_id is not None, one_channel=channel is not None),
        {
            "about_type": subject_type,
            "about_id": subject_id,
            "about_channel": channel,
            "customer_ids": list(customer_ids),
            "before_event_id": before_event_id,
            "superseding_rule": rule,
            "reason": f"superseded by {by}",
            "updated_at": now,
        },
    )
    return max(result.rowcount, 0)


async def supersede_subject(
    conn: AsyncConnection, *, subject_type: str, subject_id: str, now: datetime, by: str
) -> int:
    """Mark every message still waiting about a subject, for anyone, as superseded by `by`.

    Run in the transaction that closes the subject (an incident resolved): from its commit
    on, nothing planned before can be claimed, whoever plans the closing news and when.
    """
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.subject_type == subject_type,
            outbox.c.subject_id == subject_id,
            outbox.c.status.in_([*_WAITING, DeliveryStatus.GROUPING.value]),
        )
        .values(
            status=DeliveryStatus.SUPERSEDED.value, reason=f"superseded by {by}", updated_at=now
        )
    )
    return max(result.rowcount, 0)


@functools.cache
def _enqueue(dialect: str) -> Any:
    return dialect_insert(dialect)(outbox).on_conflict_do_nothing(
        index_elements=[outbox.c.idempotency_key]
    )


@functools.cache
def _supersede(*, by_event: bool, one_channel: bool = False) -> Update:
    # Built once per shape: each planned event runs it, and building it (an IN list, two
    # shapes) cost SQLAlchemy more than SQLite took to run it.
    condition = (
        outbox.c.event_id < bindparam("before_event_id")
        if by_event
        else outbox.c.rule == bindparam("superseding_rule")
    )
    return (
        update(outbox)
        .where(
            # Not named as columns: an UPDATE keeps those names for its SET clause.
            outbox.c.subject_type == bindparam("about_type"),
            outbox.c.subject_id == bindparam("about_id"),
            outbox.c.customer_id.in_(bindparam("customer_ids", expanding=True)),
            condition,
            outbox.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value]),
            *([outbox.c.channel == bindparam("about_channel")] if one_channel else []),
        )
        .values(status=DeliveryStatus.SUPERSEDED.value)
    )


async def claim_due(
    conn: AsyncConnection,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channel: ChannelName | None = None,
) -> list[ClaimedMessage]:
    """Claim up to `limit` due messages (of one channel, if given), oldest due first.

    One statement: `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING ...`. On PostgreSQL concurrent claimers skip each other's rows instead of
    waiting for them; SQLite has one writer (BEGIN IMMEDIATE), so the lock clause is
    dropped there and not needed.

    The due rows are read per status (pending, deferred), each an ordered range of an
    index that stops after `limit` rows: ix_outbox_channel_due (status, channel,
    next_attempt_at) for one channel, ix_outbox_due (status, next_attempt_at) for all. No
    sort of everything due, and no stepping over the other channel's rows, either of
    which would make each claim cost as much as the whole backlog.
    """
    statement = _claim_statement(None if channel is None else channel.value)
    params = {"c_now": now, "c_worker": worker, "c_until": now + lease, "c_limit": limit}
    rows = (await conn.execute(statement, params)).all()
    return sorted((_claimed(r) for r in rows), key=lambda m: m.id)


@functools.cache
def _claim_statement(channel: str | None) -> Update:
    """The claim, built once per channel: a claim runs many times a second, and building
    the statement (unions, subqueries, cache key) cost more than running it."""
    now = bindparam("c_now", type_=UTCDateTime)
    limit = bindparam("c_limit", type_=Integer)
    branches = []
    for status in _WAITING:
        branch = select(outbox.c.id, outbox.c.next_attempt_at).where(
            outbox.c.status == status, outbox.c.next_attempt_at <= now
        )
        if channel is not None:
            branch = branch.where(outbox.c.channel == channel)
        ranged = (
            branch.order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # SQLite refuses ORDER BY and LIMIT on a bare UNION member.
            .subquery()
        )
        branches.append(select(ranged.c.id, ranged.c.next_attempt_at))
    both = union_all(*branches).subquery()
    due = select(both.c.id).order_by(both.c.next_attempt_at, both.c.id).limit(limit)
    return (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_by=bindparam("c_worker", type_=String),
            claimed_until=bindparam("c_until", type_=UTCDateTime),
            # Counted at the claim, so a message that crashes its worker every time
            # still runs out of attempts instead of looping forever.
            attempts=outbox.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_CLAIM_COLUMNS)
    )


async def release(
    conn: AsyncConnection, *, worker: str, ids: Sequence[int], now: datetime
) -> int:
    """Give back claimed messages this worker will not send after all (it is stopping).

    They are due again at once, for any worker, and the claim is not counted as an attempt.
    """
    if not ids:
        return 0
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(list(ids)),
            outbox.c.status == DeliveryStatus.SENDING.value,
            outbox.c.claimed_by == worker,
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
            attempts=outbox.c.attempts - 1,
            updated_at=now,
        )
    )
    if result.rowcount:
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


def _claimed(row: Row[Any]) -> ClaimedMessage:
    return ClaimedMessage(
        id=row.id,
        key=row.idempotency_key,
        channel=ChannelName(row.channel),
        recipient=row.recipient,
        subject=row.subject,
        text=row.body_text or "",
        html=row.body_html,
        attempts=row.attempts,
        customer_id=row.customer_id,
        subject_type=row.subject_type,
        severity=row.severity,
        due_at=row.next_attempt_at,
    )


async def release_expired(conn: AsyncConnection, now: datetime) -> int:
    """Give back rows whose dispatcher died mid-send (its lease ran out)."""
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.status == DeliveryStatus.SENDING.value,
            outbox.c.claimed_until < now,
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
            reason="lease expired: the dispatcher stopped mid-send",
            updated_at=now,
        )
    )
    if result.rowcount:
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed message; recorded in batches."""

    id: int
    status: DeliveryStatus
    reason: str | None = None
    provider_id: str | None = None
    error_code: str | None = None
    next_attempt_at: datetime | None = None
    # (customer, channel) the provider says opted out: the dispatcher records the opt-out.
    opt_out: tuple[str, ChannelName] | None = None


async def record(
    conn: AsyncConnection, *, worker: str, outcomes: Sequence[Outcome], now: datetime
) -> None:
    """Write outcomes in one executemany; only rows this worker still holds are touched."""
    if not outcomes:
        return
    statement = (
        update(outbox)
        .where(
            and_(
                outbox.c.id == bindparam("b_id"),
                outbox.c.status == DeliveryStatus.SENDING.value,
                outbox.c.claimed_by == worker,
            )
        )
        .values(
            status=bindparam("b_status"),
            reason=bindparam("b_reason"),
            provider_id=bindparam("b_provider_id"),
            error_code=bindparam("b_error_code"),
            next_attempt_at=bindparam("b_next"),
            sent_at=bindparam("b_sent_at"),
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    )
    params = [
        {
            "b_id": o.id,
            "b_status": o.status.value,
            "b_reason": o.reason,
            "b_provider_id": o.provider_id,
            "b_error_code": o.error_code,
            "b_next": o.next_attempt_at,
            "b_sent_at": now if o.status is DeliveryStatus.SENT else None,
        }
        for o in outcomes
    ]
    await conn.execute(statement, params)


async def next_due_at(conn: AsyncConnection, *, include_deferred: bool = True) -> datetime | None:
    """When the earliest waiting message falls due (for the worker's wake-up)."""
    # A grouping window is short and belongs to the run that planned it; quiet hours are not.
    waiting = [DeliveryStatus.PENDING.value, DeliveryStatus.GROUPING.value]
    if include_deferred:
        waiting.append(DeliveryStatus.DEFERRED.value)
    query = select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status.in_(waiting))
    value = (await conn.execute(query)).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


async def next_window_close(conn: AsyncConnection) -> datetime | None:
    """When the earliest grouping window closes (its messages wait for the grouper)."""
    query = select(func.min(outbox.c.next_attempt_at)).where(
        outbox.c.status == DeliveryStatus.GROUPING.value
    )
    value = (await conn.execute(query)).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


async def count_by_status(
    conn: AsyncConnection, *, subject_type: str | None = None, subject_id: str | None = None
) -> dict[tuple[str, str], int]:
    query = select(outbox.c.channel, outbox.c.status, func.count()).group_by(
        outbox.c.channel, outbox.c.status
    )
    if subject_type is not None:
        query = query.where(outbox.c.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(outbox.c.subject_id == subject_id)
    return {(r[0], r[1]): int(r[2]) for r in (await conn.execute(query)).all()}


async def timeline(
    conn: AsyncConnection, customer_id: str, limit: int = 500
) -> Sequence[Row[*tuple[Any, ...]]]:
    query = (
        select(
            outbox.c.id,
            outbox.c.created_at,
            outbox.c.sent_at,
            outbox.c.updated_at,
            outbox.c.channel,
            outbox.c.template,
            outbox.c.rule,
            outbox.c.status,
            outbox.c.reason,
            outbox.c.recipient,
            outbox.c.subject,
            outbox.c.body_text,
            outbox.c.subject_type,
            outbox.c.subject_id,
            outbox.c.attempts,
            outbox.c.provider_id,
            outbox.c.next_attempt_at,
        )
        .where(outbox.c.customer_id == customer_id)
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(limit)
    )
    return (await conn.execute(query)).all()
