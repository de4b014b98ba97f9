"""Contacts: a customer reached support (phone, email, chat...), as a helpdesk reports it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.api_tables import contacts


async def insert_contact(
    conn: AsyncConnection,
    *,
    customer_id: str,
    channel: str,
    at: datetime,
    subject: str | None,
    source: str,
    now: datetime,
) -> dict[str, Any]:
    values = {
        "customer_id": customer_id,
        "channel": channel,
        "at": at,
        "subject": subject,
        "source": source,
        "created_at": now,
    }
    result = await conn.execute(insert(contacts).values(**values).returning(contacts.c.id))
    return {"id": int(result.scalar_one()), **values}


async def contacts_of(conn: AsyncConnection, customer_id: str, limit: int = 200) -> list[Any]:
    c = contacts.c
    query = (
        select(c.id, c.channel, c.at, c.subject, c.source)
        .where(contacts.c.customer_id == customer_id)
        .order_by(contacts.c.at, contacts.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


async def first_contacts(
    conn: AsyncConnection, customer_ids: Sequence[str], since: datetime, until: datetime
) -> dict[str, datetime]:
    """Each customer's first contact in [since, until], for those who made one."""
    if not customer_ids:
        return {}
    first = func.min(contacts.c.at)
    query = (
        select(contacts.c.customer_id, first)
        .where(
            contacts.c.customer_id.in_(customer_ids),
            contacts.c.at >= since,
            contacts.c.at <= until,
        )
        .group_by(contacts.c.customer_id)
    )
    return {cid: at for cid, at in (await conn.execute(query)).all()}
