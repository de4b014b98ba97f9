"""Planned maintenance in the console: what is scheduled or running; ops schedule a window
and start, complete or cancel it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.services import maintenance as service
from notifier.web.common import AppDep, SessionDep, field, posted, render

router = APIRouter()
_SPLIT = re.compile(r"[,\s]+")
ACTIONS = ("start", "complete", "cancel")


def _when(name: str, text: str) -> datetime:
    """A `datetime-local` value, taken as UTC (the form says so)."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{name}: not a date and time") from None


async def _page(
    request: Request, app: AppDep, session: SessionDep, *, error: str | None, status: int = 200
) -> Response:
    found = await service.list_all(app.engine)
    return render(request, "maintenance.html", session, status=status, windows=found, error=error)


@router.get("/maintenance", response_class=HTMLResponse)
async def maintenance_page(request: Request, app: AppDep, session: SessionDep) -> Response:
    return await _page(request, app, session, error=None)


@router.post("/maintenance", response_class=HTMLResponse)
async def schedule(request: Request, app: AppDep, session: SessionDep) -> Response:
    form = await posted(request, session)
    try:
        await service.schedule(
            app.engine,
            services=[k for k in _SPLIT.split(field(form, "services")) if k],
            starts=_when("starts", field(form, "starts")),
            ends=_when("ends", field(form, "ends")),
            title=field(form, "title") or None,
            message=field(form, "message"),
            now=app.clock.now(),
        )
    except InputError as exc:
        return await _page(request, app, session, error=str(exc), status=422)
    return RedirectResponse("/console/maintenance", status_code=303)


@router.post("/maintenance/{maintenance_id}/{action}", response_class=HTMLResponse)
async def act(
    request: Request, app: AppDep, session: SessionDep, maintenance_id: int, action: str
) -> Response:
    form = await posted(request, session)
    now = app.clock.now()
    try:
        if action == "start":
            await service.start(app.engine, maintenance_id, now=now)
        elif action == "complete":
            await service.complete(app.engine, maintenance_id, now=now)
        elif action == "cancel":
            await service.cancel(
                app.engine, maintenance_id, now=now, message=field(form, "message") or None
            )
        else:
            raise NotFound(f"no action {action!r} (one of {', '.join(ACTIONS)})")
    except (InputError, InvalidTransition, NotFound) as exc:
        code = (
            404 if isinstance(exc, NotFound) else 409 if isinstance(exc, InvalidTransition) else 422
        )
        return await _page(request, app, session, error=str(exc), status=code)
    return RedirectResponse("/console/maintenance", status_code=303)
