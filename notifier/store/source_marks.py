"""How far each source watcher has read: one row per source, in notifier's own database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.db import dialect_insert
from notifier.store.orders_table import source_marks


@dataclass(frozen=True, slots=True)
class SourceMark:
    """The JSON values of the last row read, or None: read from the first row."""

    values: list[Any] | None
    updated_at: datetime


async def get_mark(conn: AsyncConnection, source: str) -> SourceMark | None:
    """The source's mark, or None if this source was never polled."""
    query = select(source_marks.c.mark, source_marks.c.updated_at).where(
        source_marks.c.source == source
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return SourceMark(list(row.mark) if row.mark is not None else None, row.updated_at)


async def save_mark(
    conn: AsyncConnection, source: str, values: list[Any] | None, now: datetime
) -> None:
    insert = dialect_insert(conn.dialect.name)
    statement = insert(source_marks).values(source=source, mark=values, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["source"], set_={"mark": values, "updated_at": now}
    )
    await conn.execute(statement)
