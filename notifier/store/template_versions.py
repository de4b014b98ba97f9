"""Template versions: read the live set, list a path's history, add a version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.errors import NotFound
from notifier.store.templates_table import template_versions as tv


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    id: int
    path: str
    source: str
    version: int
    author: str
    created_at: datetime
    is_live: bool


def _version(row: Row[Any]) -> TemplateVersion:
    return TemplateVersion(
        row.id, row.path, row.source, row.version, row.author, row.created_at, row.is_live
    )


async def live_marker(conn: AsyncConnection) -> tuple[int, int]:
    """(largest live id, number of live rows): changes whenever the live set does."""
    row = (
        await conn.execute(select(func.max(tv.c.id), func.count()).where(tv.c.is_live.is_(True)))
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def live_sources(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(select(tv.c.path, tv.c.source).where(tv.c.is_live.is_(True)))
    return {r.path: r.source for r in rows}


async def history(conn: AsyncConnection, path: str) -> list[TemplateVersion]:
    """Every version of `path`, newest first."""
    rows = await conn.execute(select(tv).where(tv.c.path == path).order_by(tv.c.version.desc()))
    return [_version(r) for r in rows]


async def get_version(conn: AsyncConnection, path: str, version: int) -> TemplateVersion:
    row = (await conn.execute(select(tv).where(tv.c.path == path, tv.c.version == version))).first()
    if row is None:
        raise NotFound(f"no version {version} of {path}")
    return _version(row)


async def add_version(
    conn: AsyncConnection, *, path: str, source: str, author: str, now: datetime, live: bool
) -> TemplateVersion:
    """A new version of `path` (the next number); if `live`, it replaces the live one."""
    last = (
        await conn.execute(select(func.max(tv.c.version)).where(tv.c.path == path))
    ).scalar_one_or_none()
    number = int(last or 0) + 1
    if live:
        await conn.execute(
            update(tv).where(tv.c.path == path, tv.c.is_live.is_(True)).values(is_live=False)
        )
    values = {
        "path": path,
        "source": source,
        "version": number,
        "author": author,
        "created_at": now,
        "is_live": live,
    }
    new_id = (await conn.execute(insert(tv).values(**values).returning(tv.c.id))).scalar_one()
    return TemplateVersion(new_id, path, source, number, author, now, live)


async def seed(
    conn: AsyncConnection, sources: Mapping[str, str], *, author: str, now: datetime
) -> int:
    """Version 1 of every file, live, when the table is empty; else nothing."""
    if (await conn.execute(select(func.count()).select_from(tv))).scalar_one():
        return 0
    rows = [
        {"path": p, "source": s, "version": 1, "author": author, "created_at": now, "is_live": True}
        for p, s in sorted(sources.items())
    ]
    if rows:
        await conn.execute(insert(tv), rows)
    return len(rows)
