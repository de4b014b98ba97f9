"""Planned maintenance: schedule, update, start, complete, cancel (one implementation
behind the CLI and the API).

Each call commits the new state, its public update and an event in one transaction; the
planner then keeps the scheduler's notices (72 h and 1 h before), the start and the
overrun watch in line with the state, and the rules decide who hears what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.maintenance import (
    STARTED,
    Maintenance,
    MaintenanceStatus,
    MaintenanceUpdate,
    check_maintenance_transition,
)
from notifier.errors import InputError
from notifier.services.service_catalog import check_affects
from notifier.store import events as event_store
from notifier.store import maintenance as store

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_TEXT = 4000
MAX_WINDOW = timedelta(days=14)
M = MaintenanceStatus


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    maintenance: Maintenance
    updates: list[MaintenanceUpdate]

    def as_json(self) -> dict[str, Any]:
        data = self.maintenance.as_json()
        data["updates"] = [
            {"status": u.status.value, "message": u.message, "created_at": u.created_at.isoformat()}
            for u in self.updates
        ]
        return data


def _text(
    field: str, value: str | None, *, required: bool = False, limit: int = MAX_TEXT
) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InputError(f"{field}: must not be empty")
        return None
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{field}: at most {limit} characters (got {len(value)})")
    if field == "title" and ("\n" in value or "\r" in value):
        raise InputError("title: must be one line")
    if _CONTROL.search(value):
        raise InputError(f"{field}: control characters are not allowed")
    return value


def _services(keys: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for key in keys:
        key = key.strip()
        if not _KEY.match(key):
            raise InputError(f"services: {key!r} is not a service key")
        if key not in cleaned:
            cleaned.append(key)
    if not cleaned:
        raise InputError("services: name at least one service")
    if len(cleaned) > 100:
        raise InputError("services: at most 100")
    return cleaned


def _window(starts: datetime, ends: datetime, now: datetime, *, check_start: bool) -> None:
    for name, value in (("starts", starts), ("ends", ends)):
        if value.tzinfo is None:
            raise InputError(f"{name}: give a time zone (or a relative value such as +3d)")
    if check_start and starts <= now:
        raise InputError(f"starts: {starts.isoformat()} is not in the future")
    if ends <= starts:
        raise InputError(f"ends: {ends.isoformat()} is not after the start")
    if ends - starts > MAX_WINDOW:
        raise InputError(f"ends: a window is at most {MAX_WINDOW.days} days")


async def schedule(
    engine: AsyncEngine,
    *,
    services: Sequence[str],
    starts: datetime,
    ends: datetime,
    message: str,
    now: datetime,
    title: str | None = None,
) -> Maintenance:
    text = _text("message", message, required=True)
    assert text is not None
    keys = _services(services)
    _window(starts, ends, now, check_start=True)
    clean_title = _text("title", title, limit=300) or "Planned maintenance"
    async with engine.begin() as conn:
        await check_affects(conn, keys)
        maintenance_id = await store.insert_maintenance(
            conn,
            {
                "title": clean_title,
                "message": text,
                "affects": keys,
                "status": M.SCHEDULED.value,
                "starts_at": starts,
                "ends_at": ends,
                "created_at": now,
                "updated_at": now,
            },
        )
        await store.insert_update(
            conn, maintenance_id=maintenance_id, status=M.SCHEDULED, message=text, now=now
        )
        await _event(conn, maintenance_id, "maintenance.scheduled", None, M.SCHEDULED, now)
        return await store.get_maintenance(conn, maintenance_id)


async def update(
    engine: AsyncEngine,
    maintenance_id: int,
    *,
    message: str,
    now: datetime,
    starts: datetime | None = None,
    ends: datetime | None = None,
) -> Maintenance:
    """A public update; a new window moves the notices and the overrun watch with it."""
    text = _text("message", message, required=True)
    async with engine.begin() as conn:
        current = await store.get_maintenance(conn, maintenance_id, for_update=True)
        if not current.is_open:
            raise InputError(f"maintenance {maintenance_id} is {current.status.value}")
        if starts is not None and current.status is not M.SCHEDULED:
            raise InputError("starts: the maintenance has already started")
        new_starts, new_ends = starts or current.starts_at, ends or current.ends_at
        _window(new_starts, new_ends, now, check_start=starts is not None)
        values: dict[str, Any] = {"message": text, "updated_at": now}
        values |= {"starts_at": new_starts, "ends_at": new_ends}
        await store.set_maintenance(conn, maintenance_id, values)
        await store.insert_update(
            conn, maintenance_id=maintenance_id, status=current.status, message=text, now=now
        )
        payload = {
            "window_changed": (new_starts, new_ends) != (current.starts_at, current.ends_at),
            "previous_ends_at": current.ends_at.isoformat(),
        }
        await _event(
            conn,
            maintenance_id,
            "maintenance.updated",
            current.status,
            current.status,
            now,
            payload,
        )
        return await store.get_maintenance(conn, maintenance_id)


async def start(engine: AsyncEngine, maintenance_id: int, *, now: datetime) -> Maintenance:
    """Start now (before the announced start); on time, the scheduler starts it."""
    async with engine.begin() as conn:
        current = await store.get_maintenance(conn, maintenance_id, for_update=True)
        check_maintenance_transition(maintenance_id, current.status, M.IN_PROGRESS)
        await store.begin(conn, maintenance_id, now=now)
        await _event(conn, maintenance_id, STARTED, current.status, M.IN_PROGRESS, now)
        return await store.get_maintenance(conn, maintenance_id)


async def complete(
    engine: AsyncEngine, maintenance_id: int, *, now: datetime, message: str | None = None
) -> Maintenance:
    return await _finish(engine, maintenance_id, M.COMPLETED, now=now, message=message)


async def cancel(
    engine: AsyncEngine, maintenance_id: int, *, now: datetime, message: str | None = None
) -> Maintenance:
    return await _finish(engine, maintenance_id, M.CANCELLED, now=now, message=message)


async def _finish(
    engine: AsyncEngine,
    maintenance_id: int,
    target: MaintenanceStatus,
    *,
    now: datetime,
    message: str | None,
) -> Maintenance:
    text = _text("message", message)
    async with engine.begin() as conn:
        current = await store.get_maintenance(conn, maintenance_id, for_update=True)
        check_maintenance_transition(maintenance_id, current.status, target)
        values: dict[str, Any] = {"status": target.value, "updated_at": now, "completed_at": now}
        if text:
            values["message"] = text
        await store.set_maintenance(conn, maintenance_id, values)
        await store.insert_update(
            conn, maintenance_id=maintenance_id, status=target, message=text, now=now
        )
        await _event(
            conn, maintenance_id, f"maintenance.{target.value}", current.status, target, now
        )
        return await store.get_maintenance(conn, maintenance_id)


async def show(engine: AsyncEngine, maintenance_id: int) -> MaintenanceView:
    async with engine.connect() as conn:
        found = await store.get_maintenance(conn, maintenance_id)
        updates = await store.updates_by_maintenance(conn, [maintenance_id])
    return MaintenanceView(found, updates[maintenance_id])


async def list_all(engine: AsyncEngine, *, open_only: bool = False) -> list[Maintenance]:
    async with engine.connect() as conn:
        return await store.list_maintenances(conn, open_only=open_only, limit=200)


async def _event(
    conn: AsyncConnection,
    maintenance_id: int,
    kind: str,
    from_status: MaintenanceStatus | None,
    to_status: MaintenanceStatus,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    await event_store.append_event(
        conn,
        subject_type="maintenance",
        subject_id=str(maintenance_id),
        kind=kind,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        payload=payload or {},
        now=now,
    )
