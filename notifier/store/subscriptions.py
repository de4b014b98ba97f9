"""Status page subscriptions: rows by id or by (channel, address)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.services_table import subscriptions


async def find(
    conn: AsyncConnection, channel: str, address: str, *, for_update: bool = False
) -> Row[Any] | None:
    query = select(subscriptions).where(
        subscriptions.c.channel == channel, subscriptions.c.address == address
    )
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def get(
    conn: AsyncConnection, subscription_id: int, *, for_update: bool = False
) -> Row[Any] | None:
    query = select(subscriptions).where(subscriptions.c.id == subscription_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def create(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(
        insert(subscriptions).values(**values).returning(subscriptions.c.id)
    )
    return int(result.scalar_one())


async def change(conn: AsyncConnection, subscription_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        update(subscriptions).where(subscriptions.c.id == subscription_id).values(**values)
    )
