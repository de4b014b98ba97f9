"""Services in the console: their status now; ops add them and override a status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.domain.services import ServiceStatus
from notifier.errors import InputError, NotFound
from notifier.services import service_catalog as catalog
from notifier.web.common import AppDep, SessionDep, field, posted, render

router = APIRouter()


async def _page(
    request: Request, app: AppDep, session: SessionDep, *, error: str | None, status: int = 200
) -> Response:
    return render(
        request,
        "services.html",
        session,
        status=status,
        services=await catalog.list_with_status(app.engine),
        statuses=list(ServiceStatus),
        error=error,
    )


@router.get("/services", response_class=HTMLResponse)
async def services_page(request: Request, app: AppDep, session: SessionDep) -> Response:
    return await _page(request, app, session, error=None)


@router.post("/services", response_class=HTMLResponse)
async def add(request: Request, app: AppDep, session: SessionDep) -> Response:
    form = await posted(request, session)
    position = field(form, "position") or "0"
    try:
        if not position.isdigit():
            raise InputError("position: a whole number")
        await catalog.add(
            app.engine,
            key=field(form, "key"),
            name=field(form, "name"),
            description=field(form, "description") or None,
            group=field(form, "group") or None,
            position=int(position[:7]),
            now=app.clock.now(),
        )
    except InputError as exc:
        return await _page(request, app, session, error=str(exc), status=422)
    return RedirectResponse("/console/services", status_code=303)


@router.post("/services/{key}/override", response_class=HTMLResponse)
async def override(request: Request, app: AppDep, session: SessionDep, key: str) -> Response:
    form = await posted(request, session)
    try:
        await catalog.override(app.engine, key, field(form, "status") or None, now=app.clock.now())
    except (InputError, NotFound) as exc:
        code = 404 if isinstance(exc, NotFound) else 422
        return await _page(request, app, session, error=str(exc), status=code)
    return RedirectResponse("/console/services", status_code=303)
