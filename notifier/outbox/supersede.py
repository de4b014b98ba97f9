"""Supersede: the latest truth wins while a message is still ours.

A message still waiting (pending, or held by quiet hours) when newer news about the same
subject is planned for the same customer is marked `superseded` and never goes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.store.tables import outbox


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
            outbox.c.status.in_(_STILL_OURS),
        )
        .values(
            status=DeliveryStatus.SUPERSEDED.value, reason=f"superseded by {by}", updated_at=now
        )
    )
    return max(result.rowcount, 0)


_STILL_OURS = [
    DeliveryStatus.PENDING.value,
    DeliveryStatus.DEFERRED.value,
    DeliveryStatus.GROUPING.value,
]


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
