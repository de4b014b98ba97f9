"""Reads of the outbox for the worker's wake-ups, the timeline, /metrics, min_gap and the
simulation: what is due when, what a customer was told, how much waits where.

Each query is bounded by an index or a limit, except `count_by_status`, a full count, which
/metrics caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.store.tables import outbox

LATENCY_SAMPLE = 10_000  # the latest sent messages send latency is measured over
# Messages that count as "told" for min_gap: what went out or is about to.
TOLD = (
    DeliveryStatus.PENDING.value,
    DeliveryStatus.SENDING.value,
    DeliveryStatus.SENT.value,
    DeliveryStatus.DELIVERED.value,
    DeliveryStatus.DEFERRED.value,
)


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


async def count_sent_by_provider(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """(channel, provider) -> messages that provider carried."""
    query = (
        select(outbox.c.channel, outbox.c.provider, func.count())
        .where(outbox.c.provider.is_not(None))
        .group_by(outbox.c.channel, outbox.c.provider)
    )
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
            outbox.c.provider,
            outbox.c.next_attempt_at,
        )
        .where(outbox.c.customer_id == customer_id)
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def oldest_due(conn: AsyncConnection, now: datetime) -> datetime | None:
    """The due time of the oldest message still waiting to go at `now` (ix_outbox_due):
    how far behind the dispatchers are."""
    query = select(func.min(outbox.c.next_attempt_at)).where(
        outbox.c.status == DeliveryStatus.PENDING.value, outbox.c.next_attempt_at <= now
    )
    value = await conn.scalar(query)
    return value if isinstance(value, datetime) else None


async def recent_send_latencies(conn: AsyncConnection) -> list[float]:
    """Seconds from planned to sent, for the latest sent messages (newest ids first)."""
    query = (
        select(outbox.c.created_at, outbox.c.sent_at)
        .where(outbox.c.sent_at.is_not(None))
        .order_by(outbox.c.id.desc())
        .limit(LATENCY_SAMPLE)
    )
    return [
        max(0.0, (sent - created).total_seconds())
        for created, sent in (await conn.execute(query)).all()
    ]


async def last_told(
    conn: AsyncConnection, *, subject_type: str, subject_id: str, customer_ids: Sequence[str]
) -> dict[str, datetime | None]:
    """For each of these customers told about the subject, when they last were (sent, or
    planned if not sent yet): what a rule's min_gap is measured from."""
    last = func.max(func.coalesce(outbox.c.sent_at, outbox.c.created_at))
    query = (
        select(outbox.c.customer_id, last)
        .where(
            outbox.c.subject_type == subject_type,
            outbox.c.subject_id == subject_id,
            outbox.c.customer_id.in_(list(customer_ids)),
            outbox.c.status.in_(TOLD),
        )
        .group_by(outbox.c.customer_id)
    )
    return {cid: when for cid, when in (await conn.execute(query)).all()}


async def sent_in_order(conn: AsyncConnection) -> Sequence[Row[*tuple[Any, ...]]]:
    """Every sent message, in the order it went (a simulation's transcript)."""
    query = (
        select(
            outbox.c.sent_at,
            outbox.c.customer_id,
            outbox.c.channel,
            outbox.c.rule,
            outbox.c.template,
            outbox.c.subject,
            outbox.c.body_text,
        )
        .where(outbox.c.status == DeliveryStatus.SENT.value)
        .order_by(outbox.c.sent_at, outbox.c.customer_id, outbox.c.channel, outbox.c.id)
    )
    return (await conn.execute(query)).all()


async def waiting_by_priority(
    conn: AsyncConnection,
    channel: str,
    *,
    subject_type: str | None = None,
    subject_id: str | None = None,
) -> dict[int, int]:
    """Messages of a channel still to hand over (pending or being sent), by priority: what
    a forecast puts ahead of new ones. Of one subject, if given. Quiet-hours deferrals are
    not counted: they wait for their hour, not for their turn."""
    waiting = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)
    query = (
        select(outbox.c.priority, func.count())
        .where(outbox.c.status.in_(waiting), outbox.c.channel == channel)
        .group_by(outbox.c.priority)
    )
    if subject_type is not None and subject_id is not None:
        query = query.where(
            outbox.c.subject_type == subject_type, outbox.c.subject_id == subject_id
        )
    return {int(priority): int(n) for priority, n in (await conn.execute(query)).all()}
