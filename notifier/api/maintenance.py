"""/api/maintenance: schedule planned maintenance, update, start, complete, cancel, list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from notifier.api.deps import AppDep, Ops, Reader
from notifier.api.types import MAX_INT, Body, Line, LongText, Message, ShortLine, When
from notifier.domain.maintenance import Maintenance, MaintenanceStatus
from notifier.services import maintenance as service

router = APIRouter(prefix="/api/maintenance", tags=["maintenance"])
MaintenanceId = Annotated[int, Path(ge=1, le=MAX_INT, description="The maintenance's id.")]
CONFLICT: dict[int | str, dict[str, Any]] = {404: {"model": Message}, 409: {"model": Message}}


class MaintenanceCreate(Body):
    services: Annotated[list[ShortLine], Field(min_length=1, max_length=100)]
    starts: When
    ends: When
    message: Annotated[LongText, Field(min_length=1)]
    title: Line | None = None


class MaintenanceUpdateCreate(Body):
    message: Annotated[LongText, Field(min_length=1)]
    starts: When | None = None
    ends: When | None = None


class MaintenanceClose(Body):
    message: LongText | None = None


class MaintenancePublic(BaseModel):
    id: int
    title: str
    message: str | None
    affects: list[str]
    status: MaintenanceStatus
    starts_at: datetime
    ends_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    is_open: bool

    @classmethod
    def of(cls, found: Maintenance) -> MaintenancePublic:
        return cls.model_validate(found.as_context())


class MaintenanceList(BaseModel):
    maintenance: list[MaintenancePublic]


@router.post("", status_code=201)
async def schedule(app: AppDep, key: Ops, body: MaintenanceCreate) -> MaintenancePublic:
    """Announce a window: customers of these services hear 72 h and 1 h before, at the
    start and at the end."""
    found = await service.schedule(app.engine, now=app.clock.now(), **body.model_dump())
    return MaintenancePublic.of(found)


@router.get("")
async def list_maintenance(
    app: AppDep,
    key: Reader,
    open_only: Annotated[bool, Query(alias="open", description="Scheduled or running.")] = False,
) -> MaintenanceList:
    found = await service.list_all(app.engine, open_only=open_only)
    return MaintenanceList(maintenance=[MaintenancePublic.of(m) for m in found])


@router.get("/{maintenance_id}", responses=CONFLICT)
async def show(app: AppDep, key: Reader, maintenance_id: MaintenanceId) -> MaintenancePublic:
    return MaintenancePublic.of((await service.show(app.engine, maintenance_id)).maintenance)


@router.post("/{maintenance_id}/updates", responses=CONFLICT)
async def post_update(
    app: AppDep, key: Ops, maintenance_id: MaintenanceId, body: MaintenanceUpdateCreate
) -> MaintenancePublic:
    found = await service.update(
        app.engine, maintenance_id, now=app.clock.now(), **body.model_dump()
    )
    return MaintenancePublic.of(found)


@router.post("/{maintenance_id}/start", responses=CONFLICT)
async def start(app: AppDep, key: Ops, maintenance_id: MaintenanceId) -> MaintenancePublic:
    return MaintenancePublic.of(
        await service.start(app.engine, maintenance_id, now=app.clock.now())
    )


@router.post("/{maintenance_id}/complete", responses=CONFLICT)
async def complete(
    app: AppDep, key: Ops, maintenance_id: MaintenanceId, body: MaintenanceClose
) -> MaintenancePublic:
    found = await service.complete(
        app.engine, maintenance_id, now=app.clock.now(), message=body.message
    )
    return MaintenancePublic.of(found)


@router.post("/{maintenance_id}/cancel", responses=CONFLICT)
async def cancel(
    app: AppDep, key: Ops, maintenance_id: MaintenanceId, body: MaintenanceClose
) -> MaintenancePublic:
    found = await service.cancel(
        app.engine, maintenance_id, now=app.clock.now(), message=body.message
    )
    return MaintenancePublic.of(found)
