"""Enqueue: planned messages become outbox rows, once each.

A row's idempotency key is unique, so enqueueing is idempotent: planning the same event or
follow-up again inserts nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.outbox.claims import CLAIMABLE
from notifier.outbox.planned import PlannedMessage
from notifier.store.db import dialect_insert
from notifier.store.tables import outbox
from notifier.store.wakeup import TOPIC_OUTBOX, announce_work


async def enqueue(conn: AsyncConnection, messages: Sequence[PlannedMessage]) -> int:
    """Insert planned messages, skipping keys already there. Returns how many were new."""
    if not messages:
        return 0
    result = await conn.execute(_enqueue(conn.dialect.name), [as_row(m) for m in messages])
    if any(m.status in CLAIMABLE for m in messages):  # news for the dispatchers
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


def as_row(message: PlannedMessage) -> dict[str, Any]:
    """The outbox row of a planned message: the one place the two meet."""
    return {
        "idempotency_key": message.key,
        "event_id": message.event_id,
        "rule": message.rule,
        "template": message.template,
        "customer_id": message.customer_id,
        "subject_type": message.subject_type,
        "subject_id": message.subject_id,
        "channel": message.channel.value,
        "recipient": message.recipient,
        "locale": message.locale,
        "status": message.status.value,
        "reason": message.reason,
        "subject": message.subject,
        "body_text": message.text,
        "body_html": message.html,
        "attempts": 0,
        "priority": message.priority,
        "expires_at": message.expires_at,
        "next_attempt_at": message.next_attempt_at,
        "created_at": message.planned_at,
        "updated_at": message.planned_at,
    }


@functools.cache
def _enqueue(dialect: str) -> Any:
    return dialect_insert(dialect)(outbox).on_conflict_do_nothing(
        index_elements=[outbox.c.idempotency_key]
    )
