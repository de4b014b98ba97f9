"""Incident rows: read and write, always inside a caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, desc, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.incidents import (
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Severity,
    Translations,
)
from notifier.errors import NotFound
from notifier.store.tables import incident_updates, incidents


def _incident(row: Row[Any]) -> Incident:
    return Incident(
        id=row.id,
        title=row.title,
        severity=Severity(row.severity),
        status=IncidentStatus(row.status),
        affects=tuple(row.affects),
        eta=row.eta,
        workaround=row.workaround,
        cause=row.cause,
        message=row.message,
        declared_at=row.declared_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        next_update_by=row.next_update_by,
        translations=row.translations or None,
    )


def _update(row: Row[Any]) -> IncidentUpdate:
    return IncidentUpdate(
        id=row.id,
        incident_id=row.incident_id,
        status=IncidentStatus(row.status),
        message=row.message,
        eta=row.eta,
        workaround=row.workaround,
        cause=row.cause,
        created_at=row.created_at,
        translations=row.translations or None,
    )


async def insert_incident(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(incidents).values(**values).returning(incidents.c.id))
    return int(result.scalar_one())


async def get_incident(
    conn: AsyncConnection, incident_id: int, *, for_update: bool = False
) -> Incident:
    query = select(incidents).where(incidents.c.id == incident_id)
    if for_update:
        # Serialises concurrent updates of one incident on PostgreSQL; SQLite already holds
        # the write lock from BEGIN IMMEDIATE.
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return _incident(row)


async def set_incident(conn: AsyncConnection, incident_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))


async def list_incidents(
    conn: AsyncConnection, *, open_only: bool = False, limit: int = 100
) -> list[Incident]:
    query = select(incidents).order_by(desc(incidents.c.id)).limit(limit)
    if open_only:
        query = query.where(incidents.c.status != IncidentStatus.RESOLVED.value)
    return [_incident(r) for r in (await conn.execute(query)).all()]


async def insert_update(
    conn: AsyncConnection,
    *,
    incident_id: int,
    status: IncidentStatus,
    message: str | None,
    eta: datetime | None,
    workaround: str | None,
    cause: str | None,
    now: datetime,
    translations: Translations | None = None,
) -> int:
    result = await conn.execute(
        insert(incident_updates)
        .values(
            incident_id=incident_id,
            status=status.value,
            message=message,
            eta=eta,
            workaround=workaround,
            cause=cause,
            translations=translations or None,
            created_at=now,
        )
        .returning(incident_updates.c.id)
    )
    return int(result.scalar_one())


async def list_updates(conn: AsyncConnection, incident_id: int) -> list[IncidentUpdate]:
    query = (
        select(incident_updates)
        .where(incident_updates.c.incident_id == incident_id)
        .order_by(incident_updates.c.id)
    )
    return [_update(r) for r in (await conn.execute(query)).all()]


async def get_update(conn: AsyncConnection, update_id: int) -> IncidentUpdate | None:
    row = (
        await conn.execute(select(incident_updates).where(incident_updates.c.id == update_id))
    ).first()
    return _update(row) if row is not None else None


async def incidents_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Incident]:
    rows = (await conn.execute(select(incidents).where(incidents.c.id.in_(ids)))).all()
    return {r.id: _incident(r) for r in rows}
