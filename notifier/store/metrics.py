"""What /metrics reports, read from the database: the state every worker shares.

Each query is bounded by an index or a limit: a scrape costs the same with a thousand
messages or a hundred million... except `messages_by_status`, a full count, which the
caller caches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.store.schedules_table import schedules
from notifier.store.tables import outbox

LATENCY_SAMPLE = 10_000  # the latest sent messages send latency is measured over


async def messages_by_status(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    query = select(outbox.c.channel, outbox.c.status, func.count()).group_by(
        outbox.c.channel, outbox.c.status
    )
    return {(ch, st): int(n) for ch, st, n in (await conn.execute(query)).all()}


async def oldest_due(conn: AsyncConnection, now: datetime) -> tuple[datetime | None, ...]:
    """The due time of the oldest outbox message and schedule still waiting to go at `now`
    (ix_outbox_due, ix_schedules_due): how far behind the workers are."""
    message = select(func.min(outbox.c.next_attempt_at)).where(
        outbox.c.status == DeliveryStatus.PENDING.value, outbox.c.next_attempt_at <= now
    )
    schedule = select(func.min(schedules.c.due_at)).where(
        schedules.c.status == "pending", schedules.c.due_at <= now
    )
    return (await conn.scalar(message), await conn.scalar(schedule))


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
