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
from notifier.store.db import dialect_insert
from notifier.store.tables import outbox
from notifier.store.wakeup import TOPIC_OUTBOX, announce_work


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert planned rows, skipping keys already there. Returns how many were new."""
    if not rows:
        return 0
    result = await conn.execute(_enqueue(conn.dialect.name), list(rows))
    if any(row["status"] in CLAIMABLE for row in rows):
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


@functools.cache
def _enqueue(dialect: str) -> Any:
    return dialect_insert(dialect)(outbox).on_conflict_do_nothing(
        index_elements=[outbox.c.idempotency_key]
    )
