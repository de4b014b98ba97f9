"""Planned maintenance rows and their public updates, inside a caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.maintenance import Maintenance, MaintenanceStatus, MaintenanceUpdate
from notifier.errors import NotFound
from notifier.store.services_table import maintenance_updates, maintenances

OPEN = (MaintenanceStatus.SCHEDULED.value, MaintenanceStatus.IN_PROGRESS.value)


def _maintenance(row: Row[Any]) -> Maintenance:
    return Maintenance(
        id=row.id,
        title=row.title,
        message=row.message,
        affects=tuple(row.affects),
        status=MaintenanceStatus(row.status),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )


async def insert_maintenance(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(maintenances).values(**values).returning(maintenances.c.id))
    return int(result.scalar_one())


async def get_maintenance(
    conn: AsyncConnection, maintenance_id: int, *, for_update: bool = False
) -> Maintenance:
    query = select(maintenances).where(maintenances.c.id == maintenance_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"maintenance {maintenance_id} does not exist")
    return _maintenance(row)


async def set_maintenance(
    conn: AsyncConnection, maintenance_id: int, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(maintenances).where(maintenances.c.id == maintenance_id).values(**values)
    )


async def list_maintenances(
    conn: AsyncConnection, *, open_only: bool = False, since: datetime | None = None, limit: int
) -> list[Maintenance]:
    """Newest start first. `since`: also those that ended (or were due to end) since then."""
    query = select(maintenances).order_by(maintenances.c.starts_at.desc()).limit(limit)
    if open_only:
        query = query.where(maintenances.c.status.in_(OPEN))
    elif since is not None:
        query = query.where(maintenances.c.status.in_(OPEN) | (maintenances.c.ends_at >= since))
    return [_maintenance(r) for r in (await conn.execute(query)).all()]


async def insert_update(
    conn: AsyncConnection,
    *,
    maintenance_id: int,
    status: MaintenanceStatus,
    message: str | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(maintenance_updates)
        .values(maintenance_id=maintenance_id, status=status.value, message=message, created_at=now)
        .returning(maintenance_updates.c.id)
    )
    return int(result.scalar_one())


async def updates_by_maintenance(
    conn: AsyncConnection, ids: Sequence[int]
) -> dict[int, list[MaintenanceUpdate]]:
    by_id: dict[int, list[MaintenanceUpdate]] = {i: [] for i in ids}
    if not ids:
        return by_id
    query = (
        select(maintenance_updates)
        .where(maintenance_updates.c.maintenance_id.in_(list(ids)))
        .order_by(maintenance_updates.c.id)
    )
    for row in (await conn.execute(query)).all():
        by_id[row.maintenance_id].append(
            MaintenanceUpdate(
                id=row.id,
                maintenance_id=row.maintenance_id,
                status=MaintenanceStatus(row.status),
                message=row.message,
                created_at=row.created_at,
            )
        )
    return by_id


async def begin(conn: AsyncConnection, maintenance_id: int, *, now: datetime) -> None:
    """In progress from now, with its public update (the start, by hand or on time)."""
    await set_maintenance(
        conn,
        maintenance_id,
        {"status": MaintenanceStatus.IN_PROGRESS.value, "started_at": now, "updated_at": now},
    )
    await insert_update(
        conn,
        maintenance_id=maintenance_id,
        status=MaintenanceStatus.IN_PROGRESS,
        message=None,
        now=now,
    )
