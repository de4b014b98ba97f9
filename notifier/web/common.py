"""What every console page shares: the page environment, the session checks, rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import jinja2
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from notifier.runtime.guard import access_for
from notifier.runtime.served import AppDep as AppDep  # re-exported: the routers import it from here
from notifier.services.access import DOING, Open
from notifier.services.apikeys import Permission
from notifier.web.session import Session, csrf_ok, current_session

# The console's own pages (not customer templates): a plain, autoescaping environment.
PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("notifier.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def local_input(value: datetime | None) -> str:
    """A value for `<input type="datetime-local">`, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


PAGES.filters["when"] = when
PAGES.globals["Permission"] = Permission


def render(
    request: Request, name: str, session: Session | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = PAGES.get_template(name).render(request=request, session=session, **context)
    return HTMLResponse(html, status_code=status)


async def signed_in(request: Request, app: AppDep) -> Session:
    """The session, if its role may use this page or form (the table the API checks too:
    `services.access`)."""
    session = await current_session(app, request)
    if session is None:
        # A browser follows a 303 whatever the body says.
        raise HTTPException(303, "sign in first", {"Location": "/console/login"})
    access = access_for(request)
    if not isinstance(access, Open) and not session.can(access):
        raise HTTPException(403, f"The {session.role} role may not {DOING[access]}.")
    return session


SessionDep = Annotated[Session, Depends(signed_in)]


async def posted(request: Request, session: Session) -> FormData:
    """The form of a POST whose CSRF token matches the session's; 403 otherwise."""
    form = await request.form()
    token = form.get("csrf") or request.headers.get("x-csrf-token")
    if not csrf_ok(session, token if isinstance(token, str) else None):
        raise HTTPException(403, "the form has expired or did not come from this console")
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
