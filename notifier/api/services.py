"""/api/services: the status page's components; add, edit, override, remove, list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import AfterValidator, BaseModel, Field

from notifier.api.deps import AppDep, Ops, Reader
from notifier.api.types import Body, Line, LongText, Message, ShortLine
from notifier.domain.services import ServiceStatus, ServiceView
from notifier.services import service_catalog as catalog

router = APIRouter(prefix="/api/services", tags=["services"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message}}


def _no_break(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be one line")
    return value


ServiceKey = Annotated[
    str,
    Path(min_length=1, max_length=128, description="The key incidents' `affects` name."),
    AfterValidator(_no_break),
]
Position = Annotated[int, Field(ge=0, le=catalog.MAX_POSITION)]
Description = Annotated[LongText, Field(max_length=2000)]


class ServiceCreate(Body):
    key: ShortLine
    name: Annotated[Line, Field(min_length=1, max_length=200)]
    description: Description | None = None
    group: Annotated[Line, Field(max_length=200)] | None = None
    position: Position = 0


class ServiceEdit(Body):
    name: Annotated[Line, Field(min_length=1, max_length=200)] | None = None
    description: Description | None = None
    group: Annotated[Line, Field(max_length=200)] | None = None
    position: Position | None = None


class ServiceOverride(Body):
    status: ServiceStatus | None = Field(
        description="Shown whatever is open; null goes back to the derived status."
    )


class ServicePublic(BaseModel):
    key: str
    name: str
    description: str | None
    group: str | None
    position: int
    override: ServiceStatus | None
    status: ServiceStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: ServiceView) -> ServicePublic:
        return cls.model_validate(view.as_json())


class ServiceList(BaseModel):
    services: list[ServicePublic]


@router.get("")
async def list_services(app: AppDep, key: Reader) -> ServiceList:
    """Every service in display order, with its status now."""
    found = await catalog.list_with_status(app.engine)
    return ServiceList(services=[ServicePublic.of(v) for v in found])


@router.post("", status_code=201)
async def add(app: AppDep, key: Ops, body: ServiceCreate) -> ServicePublic:
    """Add a service; incidents' `affects` must name services from then on."""
    await catalog.add(app.engine, now=app.clock.now(), **body.model_dump())
    return ServicePublic.of(await catalog.show(app.engine, body.key.strip()))


@router.get("/{service_key}", responses=NOT_FOUND)
async def show(app: AppDep, key: Reader, service_key: ServiceKey) -> ServicePublic:
    return ServicePublic.of(await catalog.show(app.engine, service_key))


@router.patch("/{service_key}", responses=NOT_FOUND)
async def edit(app: AppDep, key: Ops, service_key: ServiceKey, body: ServiceEdit) -> ServicePublic:
    """Change what is given; an empty description or group clears it."""
    await catalog.edit(app.engine, service_key, now=app.clock.now(), **body.model_dump())
    return ServicePublic.of(await catalog.show(app.engine, service_key))


@router.put("/{service_key}/override", responses=NOT_FOUND)
async def override(
    app: AppDep, key: Ops, service_key: ServiceKey, body: ServiceOverride
) -> ServicePublic:
    """Show a status whatever is open, or (null) the derived one again."""
    await catalog.override(app.engine, service_key, body.status, now=app.clock.now())
    return ServicePublic.of(await catalog.show(app.engine, service_key))


@router.delete("/{service_key}", status_code=204, responses=NOT_FOUND)
async def remove(app: AppDep, key: Ops, service_key: ServiceKey) -> Response:
    await catalog.remove(app.engine, service_key)
    return Response(status_code=204)
