"""SMS customers sent us: STOP, START, HELP, and replies kept for their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.api_tables import inbound_messages
from notifier.store.db import dialect_insert


async def record_inbound(
    conn: AsyncConnection,
    *,
    provider_sid: str,
    customer_id: str | None,
    from_number: str,
    body: str,
    kind: str,
    now: datetime,
) -> bool:
    """Keep an inbound SMS; False if this provider sid was already recorded (a retry)."""
    statement = (
        dialect_insert(conn.dialect.name)(inbound_messages)
        .values(
            provider_sid=provider_sid,
            customer_id=customer_id,
            from_number=from_number,
            body=body,
            kind=kind,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=[inbound_messages.c.provider_sid])
    )
    return bool((await conn.execute(statement)).rowcount)


async def inbound_of(conn: AsyncConnection, customer_id: str, limit: int = 200) -> list[Any]:
    t = inbound_messages
    query = (
        select(t.c.id, t.c.received_at, t.c.kind, t.c.body, t.c.from_number, t.c.provider_sid)
        .where(t.c.customer_id == customer_id)
        .order_by(t.c.received_at, t.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())
