"""The web console: server-rendered pages under /console in the API's FastAPI app.

Sign in with an API key (see `session`); what a page offers follows the key's role, as in
the HTTP API: ops declare and run incidents, support edit templates, viewers read.

    /console/incidents            open and recent incidents; declare (dry run, then confirm)
    /console/incidents/{id}       updates, ETA, watchdog, live progress, update, resolve, report
    /console/templates            templates by message, channel and locale, with lint status
    /console/templates/edit       editor with live preview, versions, diff, restore
    /console/customers            search; a customer's timeline and channel preferences
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.runtime.guard import same_origin
from notifier.services.apikeys import authenticate
from notifier.web import customers, incidents, templates_editor
from notifier.web.common import AppDep, SessionDep, field, posted, render
from notifier.web.session import (
    clear_cookie,
    current_session,
    end_session,
    new_session,
    set_cookie,
)

router = APIRouter(prefix="/console", include_in_schema=False)

_STATIC = {"htmx.min.js": "text/javascript", "console.css": "text/css"}


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC:
        raise HTTPException(404, "no such file")
    body = files("notifier.web").joinpath("static", name).read_bytes()
    return Response(
        body, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
    )


@router.get("", response_class=HTMLResponse)
async def home(request: Request, app: AppDep) -> Response:
    session = await current_session(app, request)
    target = "/console/incidents" if session else "/console/login"
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return render(request, "login.html", None, error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, app: AppDep) -> Response:
    if not same_origin(request):
        raise HTTPException(403, "cross-site sign-in refused")
    form = await request.form()
    key = await authenticate(app.engine, field(form, "key"))
    if key is None:
        return render(request, "login.html", None, status=401, error="Unknown or revoked key.")
    response = RedirectResponse("/console/incidents", status_code=303)
    set_cookie(response, app, request, new_session(key.id, key.name, key.role))
    return response


@router.post("/logout", response_class=HTMLResponse)
async def logout(request: Request, app: AppDep, session: SessionDep) -> Response:
    await posted(request, session)
    await end_session(app, session)
    response = RedirectResponse("/console/login", status_code=303)
    clear_cookie(response, app, request)
    return response


router.include_router(incidents.router)
router.include_router(templates_editor.router)
router.include_router(customers.router)

__all__ = ["router"]
