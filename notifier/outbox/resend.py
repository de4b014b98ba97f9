"""Sending failed messages again, on request (`notifier outbox retry`).

A retry resets the failed row itself (pending again, attempts from zero, due now): the
idempotency key stays the same, so a message is never in the outbox twice. Only `failed`
rows are touched: a message sent, delivered, superseded or still waiting is never resent.
Two kinds of failed rows are left alone on purpose:

- refused because the customer opted out with the provider (Twilio 21610): the customer
  said STOP, another try would be a message they asked not to get;
- a primary whose fallback copy was sent or is on its way (the customer got, or will get,
  the news on the other channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.outbox.fallback import SUFFIX
from notifier.store.tables import outbox
from notifier.store.wakeup import TOPIC_OUTBOX, announce_work

OPTED_OUT_CODES = ("21610",)
MAX_RETRY = 100_000  # rows one request may reset
_ON_ITS_WAY = (
    DeliveryStatus.PENDING.value,
    DeliveryStatus.SENDING.value,
    DeliveryStatus.SENT.value,
    DeliveryStatus.DELIVERED.value,
)


@dataclass(frozen=True)
class RetryFilter:
    incident_id: int | None = None
    channel: str | None = None
    # Words of the failure reason or its error code ("454", "throttl", "gave up"), any case.
    reason: str | None = None


def _matching(selection: RetryFilter) -> ColumnElement[bool]:
    copy = outbox.alias("copy")
    conditions = [
        outbox.c.status == DeliveryStatus.FAILED.value,
        or_(outbox.c.error_code.is_(None), outbox.c.error_code.not_in(OPTED_OUT_CODES)),
        ~exists().where(
            and_(
                copy.c.idempotency_key == outbox.c.idempotency_key + SUFFIX,
                copy.c.status.in_(_ON_ITS_WAY),
            )
        ),
    ]
    if selection.incident_id is not None:
        conditions += [
            outbox.c.subject_type == "incident",
            outbox.c.subject_id == str(selection.incident_id),
        ]
    if selection.channel is not None:
        conditions.append(outbox.c.channel == selection.channel)
    if selection.reason:
        words = f"%{selection.reason.lower()}%"
        conditions.append(
            or_(
                func.lower(outbox.c.reason).like(words),
                func.lower(outbox.c.error_code).like(words),
            )
        )
    return and_(*conditions)


async def count_failed(conn: AsyncConnection, selection: RetryFilter) -> int:
    found = await conn.scalar(select(func.count()).select_from(outbox).where(_matching(selection)))
    return int(found or 0)


async def retry_failed(
    conn: AsyncConnection, selection: RetryFilter, *, now: datetime, limit: int = MAX_RETRY
) -> int:
    """Make up to `limit` matching failed messages due again now; returns how many."""
    ids = select(outbox.c.id).where(_matching(selection)).order_by(outbox.c.id).limit(limit)
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids.scalar_subquery()), outbox.c.status == "failed")
        .values(
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            reason=func.coalesce("retry requested after: " + outbox.c.reason, "retry requested"),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    count = max(result.rowcount, 0)
    if count:
        await announce_work(conn, TOPIC_OUTBOX)
    return count
