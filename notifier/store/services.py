"""Service rows: read and write, inside a caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.incidents import Incident
from notifier.domain.services import Service, ServiceStatus
from notifier.errors import NotFound
from notifier.store.incidents import incidents_by_ids
from notifier.store.services_table import services
from notifier.store.tables import events, incidents


def _service(row: Row[Any]) -> Service:
    return Service(
        key=row.key,
        name=row.name,
        description=row.description,
        group=row.group_name,
        position=row.position,
        override=ServiceStatus(row.status_override) if row.status_override else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_services(conn: AsyncConnection) -> list[Service]:
    query = select(services).order_by(services.c.position, services.c.key)
    return [_service(r) for r in (await conn.execute(query)).all()]


async def get_service(conn: AsyncConnection, key: str) -> Service | None:
    row = (await conn.execute(select(services).where(services.c.key == key))).first()
    return _service(row) if row is not None else None


async def count_services(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(services))).scalar_one())


async def unknown_keys(conn: AsyncConnection, keys: Sequence[str]) -> list[str]:
    query = select(services.c.key).where(services.c.key.in_(list(keys)))
    known = set((await conn.execute(query)).scalars())
    return [k for k in keys if k not in known]


async def insert_service(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(services).values(**values))


async def set_service(conn: AsyncConnection, key: str, values: dict[str, Any]) -> None:
    result = await conn.execute(update(services).where(services.c.key == key).values(**values))
    if result.rowcount == 0:
        raise NotFound(f"service {key!r} does not exist")


async def delete_service(conn: AsyncConnection, key: str) -> None:
    result = await conn.execute(delete(services).where(services.c.key == key))
    if result.rowcount == 0:
        raise NotFound(f"service {key!r} does not exist")


async def incidents_since(conn: AsyncConnection, since: datetime, *, limit: int) -> list[Incident]:
    """Incidents open now or declared or resolved since `since`, newest first."""
    query = (
        select(incidents.c.id)
        .where(
            (incidents.c.resolved_at.is_(None))
            | (incidents.c.resolved_at >= since)
            | (incidents.c.declared_at >= since)
        )
        .order_by(incidents.c.id.desc())
        .limit(limit)
    )
    ids = list((await conn.execute(query)).scalars())
    found = await incidents_by_ids(conn, ids)
    return [found[i] for i in ids if i in found]


async def latest_change(conn: AsyncConnection) -> tuple[Any, ...]:
    """A fingerprint of what the status page shows. Every change of an incident or a
    maintenance writes an event, so the newest event id covers them (timestamps would not:
    two changes in one clock tick look alike); services write none, and are few, so their
    rows are the fingerprint. An index probe and a read of at most MAX_SERVICES rows."""
    newest_event = (await conn.execute(select(func.max(events.c.id)))).scalar()
    rows = (await conn.execute(select(services).order_by(services.c.key))).all()
    return (newest_event, hash(tuple(tuple(r) for r in rows)))
