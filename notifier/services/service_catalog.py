"""Services (status page components): add, edit, remove, override, list with status.

The status of each service is derived from the incidents open against it, unless an
operator has overridden it. Once the catalog holds a service, an incident's `affects` must
name services in it: a typo would otherwise reach nobody and show nothing on the page.
An empty catalog accepts any key, as before services were records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.maintenance import MaintenanceStatus
from notifier.domain.services import Service, ServiceStatus, ServiceView, derived_status
from notifier.errors import InputError, NotFound
from notifier.store import incidents as incident_store
from notifier.store import maintenance as maintenance_store
from notifier.store import services as store

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SERVICES = 500
MAX_POSITION = 100_000


def _key(key: str) -> str:
    key = key.strip()
    if not _KEY.match(key):
        raise InputError(f"key: {key!r} is not a service key (letters, digits and . _ : / -)")
    return key


def _line(field: str, value: str | None, *, limit: int, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InputError(f"{field}: must not be empty")
        return None
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{field}: at most {limit} characters (got {len(value)})")
    if _CONTROL.search(value):
        raise InputError(f"{field}: line breaks and control characters are not allowed")
    return value


def _position(position: int) -> int:
    if not 0 <= position <= MAX_POSITION:
        raise InputError(f"position: between 0 and {MAX_POSITION} (got {position})")
    return position


def parse_status(value: str) -> ServiceStatus:
    try:
        return ServiceStatus(value)
    except ValueError:
        raise InputError(
            f"status: {value!r} is not one of {', '.join(s.value for s in ServiceStatus)}"
        ) from None


async def add(
    engine: AsyncEngine,
    *,
    key: str,
    name: str,
    now: datetime,
    description: str | None = None,
    group: str | None = None,
    position: int = 0,
) -> Service:
    clean_key = _key(key)
    values: dict[str, Any] = {
        "key": clean_key,
        "name": _line("name", name, limit=200, required=True),
        "description": _line("description", description, limit=2000),
        "group_name": _line("group", group, limit=200),
        "position": _position(position),
        "status_override": None,
        "created_at": now,
        "updated_at": now,
    }
    async with engine.begin() as conn:
        if await store.get_service(conn, clean_key) is not None:
            raise InputError(f"key: service {clean_key!r} already exists")
        if await store.count_services(conn) >= MAX_SERVICES:
            raise InputError(f"key: at most {MAX_SERVICES} services")
        await store.insert_service(conn, values)
        return await _get(conn, clean_key)


async def edit(
    engine: AsyncEngine,
    key: str,
    *,
    now: datetime,
    name: str | None = None,
    description: str | None = None,
    group: str | None = None,
    position: int | None = None,
) -> Service:
    """Change what is given; an empty description or group clears it."""
    values: dict[str, Any] = {"updated_at": now}
    if name is not None:
        values["name"] = _line("name", name, limit=200, required=True)
    if description is not None:
        values["description"] = _line("description", description, limit=2000)
    if group is not None:
        values["group_name"] = _line("group", group, limit=200)
    if position is not None:
        values["position"] = _position(position)
    async with engine.begin() as conn:
        await store.set_service(conn, key, values)
        return await _get(conn, key)


async def override(
    engine: AsyncEngine, key: str, status: ServiceStatus | str | None, *, now: datetime
) -> Service:
    """Show `status` whatever is open; None goes back to the derived status."""
    value = parse_status(status).value if status is not None else None
    async with engine.begin() as conn:
        await store.set_service(conn, key, {"status_override": value, "updated_at": now})
        return await _get(conn, key)


async def remove(engine: AsyncEngine, key: str) -> None:
    async with engine.begin() as conn:
        await store.delete_service(conn, key)


async def list_with_status(engine: AsyncEngine) -> list[ServiceView]:
    async with engine.connect() as conn:
        found = await store.list_services(conn)
        return await _with_status(conn, found)


async def show(engine: AsyncEngine, key: str) -> ServiceView:
    async with engine.connect() as conn:
        return (await _with_status(conn, [await _get(conn, key)]))[0]


async def _with_status(conn: AsyncConnection, found: list[Service]) -> list[ServiceView]:
    open_incidents = await incident_store.list_incidents(conn, open_only=True, limit=1000)
    windows = await maintenance_store.list_maintenances(conn, open_only=True, limit=1000)
    running = {k for m in windows if m.status is MaintenanceStatus.IN_PROGRESS for k in m.affects}
    return [
        ServiceView(s, derived_status(s, open_incidents, in_maintenance=s.key in running))
        for s in found
    ]


async def check_affects(conn: AsyncConnection, keys: Sequence[str]) -> None:
    """Refuse keys the catalog does not hold, once it holds any."""
    if await store.count_services(conn) == 0:
        return
    unknown = await store.unknown_keys(conn, keys)
    if unknown:
        raise InputError(
            f"affects: {', '.join(repr(k) for k in unknown)} is not a service "
            "(see `notifier services list`)"
        )


async def _get(conn: AsyncConnection, key: str) -> Service:
    service = await store.get_service(conn, key)
    if service is None:
        raise NotFound(f"service {key!r} does not exist")
    return service
