"""Operations: incidents listed, declared (after a dry run), followed, updated, resolved."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from notifier.domain.incidents import IncidentStatus, Severity
from notifier.errors import InputError, InvalidTransition
from notifier.runtime.app import App
from notifier.services import customer_records, outbox_retry, schedules
from notifier.services import incidents as service
from notifier.services.dry_run import declare_dry_run
from notifier.services.outbox_retry import MAX_RETRY
from notifier.services.progress import incident_progress
from notifier.services.report import incident_report
from notifier.web.common import AppDep, SessionDep, field, local_input, posted, render

router = APIRouter()
_SPLIT = re.compile(r"[,\s]+")


async def known_services(app: App, limit: int = 500) -> list[str]:
    return await customer_records.known_services(app.engine, limit)


def _when(name: str, text: str) -> datetime | None:
    """A `datetime-local` value, taken as UTC (the form says so)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{name}: not a date and time") from None


def other_locales(app: App) -> list[str]:
    """The locales the console offers a field for, beside the default's: those the
    templates are written in."""
    default = app.settings.default_locale
    return [loc for loc in app.templates.current.all_locales() if loc != default]


def _locale_texts(
    form: FormData, fields: tuple[str, ...], locales: list[str]
) -> dict[str, dict[str, str]]:
    """The `message_fr`-style fields: {field: {locale: text}}, empty ones left out."""
    found: dict[str, dict[str, str]] = {}
    for name in fields:
        for locale in locales:
            text = field(form, f"{name}_{locale}")
            if text:
                found.setdefault(name, {})[locale] = text
    return found


def _declaration(form: FormData, locales: list[str]) -> dict[str, Any]:
    return {
        "title": field(form, "title"),
        "severity": field(form, "severity") or Severity.MAJOR.value,
        "affects": [k for k in _SPLIT.split(field(form, "affects")) if k],
        "eta": field(form, "eta"),
        "workaround": field(form, "workaround") or None,
        "message": field(form, "message") or None,
        "translations": _locale_texts(form, ("message", "workaround"), locales),
    }


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def _error_of(exc: Exception) -> tuple[str, str]:
    """("field", "reason") of a service error "field: reason"."""
    text = str(exc)
    name, sep, reason = text.partition(": ")
    return (name, reason) if sep and name.isidentifier() else ("", text)


@router.get("/incidents", response_class=HTMLResponse)
async def incidents_page(request: Request, app: AppDep, session: SessionDep) -> Response:
    found = await service.list_all(app.engine)
    open_ = [i for i in found if i.is_open]
    recent = [i for i in found if not i.is_open][:30]
    return render(request, "incidents.html", session, open=open_, recent=recent)


@router.get("/incidents/new", response_class=HTMLResponse)
async def declare_form(request: Request, app: AppDep, session: SessionDep) -> Response:
    values: dict[str, Any] = {"title": "", "severity": "major", "affects": [], "eta": ""}
    values |= {"workaround": None, "message": None, "translations": {}}
    return render(
        request,
        "declare.html",
        session,
        locales=other_locales(app),
        values=values,
        services=await known_services(app),
        forecast=None,
        digest="",
        errors={},
        severities=list(Severity),
    )


@router.post("/incidents/new", response_class=HTMLResponse)
async def declare(request: Request, app: AppDep, session: SessionDep) -> Response:
    form = await posted(request, session)
    locales = other_locales(app)
    values = _declaration(form, locales)
    digest = _digest(values)
    now = app.clock.now()
    errors: dict[str, str] = {}
    forecast = None
    try:
        fields = {**values, "eta": _when("eta", values["eta"])}
        if field(form, "action") == "confirm" and field(form, "previewed") == digest:
            incident = await service.declare(app.engine, now=now, **fields)
            return RedirectResponse(f"/console/incidents/{incident.id}", status_code=303)
        forecast = (await declare_dry_run(app, now=now, **fields)).as_json()
    except InputError as exc:
        name, reason = _error_of(exc)
        errors[name or "form"] = reason
    return render(
        request,
        "declare.html",
        session,
        status=422 if errors else 200,
        locales=locales,
        values=values,
        services=await known_services(app),
        forecast=forecast,
        digest=digest if forecast is not None else "",
        errors=errors,
        severities=list(Severity),
    )


async def _progress(app: App, incident_id: int, report: dict[str, Any]) -> dict[str, Any]:
    channels = report["channels"]
    planned = sum(c["planned"] for c in channels.values())
    waiting = sum(c["waiting"] for c in channels.values())
    percent = round(100 * (planned - waiting) / planned) if planned else None
    # When what still waits will have gone, at each channel's capacity.
    timing = {
        name: p.as_json() for name, p in (await incident_progress(app, incident_id, report)).items()
    }
    return {
        "channels": channels,
        "planned": planned,
        "waiting": waiting,
        "percent": percent,
        "timing": timing,
    }


async def _incident_page(
    request: Request,
    app: App,
    session: SessionDep,
    incident_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    retried: int | None = None,
) -> Response:
    view = await service.show(app.engine, incident_id)
    watchdog = await schedules.of_subject(app.engine, "incident", str(incident_id))
    report = await incident_report(app.engine, incident_id, now=app.clock.now())
    return render(
        request,
        "incident.html",
        session,
        status=status,
        incident=view.incident,
        updates=view.updates,
        watchdog=watchdog,
        report=report,
        progress=await _progress(app, incident_id, report),
        statuses=[s for s in IncidentStatus if s is not IncidentStatus.RESOLVED],
        eta_value=local_input(view.incident.eta),
        locales=other_locales(app),
        errors=errors or {},
        retried=retried,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page(
    request: Request,
    app: AppDep,
    session: SessionDep,
    incident_id: int,
    retried: Annotated[int | None, Query(ge=0, le=MAX_RETRY)] = None,
) -> Response:
    return await _incident_page(request, app, session, incident_id, retried=retried)


@router.get("/incidents/{incident_id}/progress", response_class=HTMLResponse)
async def progress(
    request: Request, app: AppDep, session: SessionDep, incident_id: int
) -> Response:
    report = await incident_report(app.engine, incident_id, now=app.clock.now())
    progress = await _progress(app, incident_id, report)
    return render(request, "_progress.html", session, progress=progress, report=report)


@router.get("/incidents/{incident_id}/watchdog", response_class=HTMLResponse)
async def watchdog(
    request: Request, app: AppDep, session: SessionDep, incident_id: int
) -> Response:
    """Refreshed in place: the worker arms deadlines and follow-ups just after the
    declaration, usually after the page was drawn."""
    armed = await schedules.of_subject(app.engine, "incident", str(incident_id))
    return render(request, "_watchdog.html", session, watchdog=armed)


@router.post("/incidents/{incident_id}/update", response_class=HTMLResponse)
async def post_update(
    request: Request, app: AppDep, session: SessionDep, incident_id: int
) -> Response:
    form = await posted(request, session)
    try:
        await service.update(
            app.engine,
            incident_id,
            now=app.clock.now(),
            message=field(form, "message"),
            status=field(form, "status") or None,
            eta=_when("eta", field(form, "eta")),
            workaround=field(form, "workaround") or None,
            translations=_locale_texts(form, ("message", "workaround"), other_locales(app)),
        )
    except (InputError, InvalidTransition) as exc:
        name, reason = _error_of(exc)
        return await _incident_page(
            request,
            app,
            session,
            incident_id,
            errors={f"update_{name or 'form'}": reason},
            status=422,
        )
    return RedirectResponse(f"/console/incidents/{incident_id}#updates", status_code=303)


@router.post("/incidents/{incident_id}/resolve", response_class=HTMLResponse)
async def post_resolve(
    request: Request, app: AppDep, session: SessionDep, incident_id: int
) -> Response:
    form = await posted(request, session)
    try:
        await service.resolve(
            app.engine,
            incident_id,
            now=app.clock.now(),
            cause=field(form, "cause"),
            message=field(form, "message") or None,
            translations=_locale_texts(form, ("cause", "message"), other_locales(app)),
        )
    except (InputError, InvalidTransition) as exc:
        name, reason = _error_of(exc)
        return await _incident_page(
            request,
            app,
            session,
            incident_id,
            errors={f"resolve_{name or 'form'}": reason},
            status=422,
        )
    return RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)


@router.post("/incidents/{incident_id}/retry", response_class=HTMLResponse)
async def post_retry(
    request: Request, app: AppDep, session: SessionDep, incident_id: int
) -> Response:
    """Send the incident's failed messages again (by channel and reason), on their own
    rows and keys: nothing already sent goes twice."""
    form = await posted(request, session)
    try:
        selection = outbox_retry.make_filter(
            incident_id=incident_id,
            channel=field(form, "channel") or None,
            reason=field(form, "reason") or None,
        )
        result = await outbox_retry.retry(app.engine, selection, now=app.clock.now())
    except InputError as exc:
        name, reason = _error_of(exc)
        return await _incident_page(
            request,
            app,
            session,
            incident_id,
            errors={f"retry_{name or 'form'}": reason},
            status=422,
        )
    return RedirectResponse(
        f"/console/incidents/{incident_id}?retried={result.retried}#retry", status_code=303
    )
