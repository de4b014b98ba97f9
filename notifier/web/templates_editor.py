"""Support: the message templates, their lint status, an editor with a live preview, and
versions (save, diff, restore). A version that fails lint is kept as a draft, never live."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.errors import InputError, NotFound
from notifier.runtime.app import App
from notifier.services import template_versions as service
from notifier.services.apikeys import Permission
from notifier.services.template_catalog import DbCatalog
from notifier.templating.lint import LintIssue
from notifier.web.common import AppDep, SessionDep, field, posted, render
from notifier.web.session import Session

router = APIRouter()


def _by_line(issues: list[LintIssue]) -> dict[int, list[LintIssue]]:
    found: dict[int, list[LintIssue]] = defaultdict(list)
    for issue in issues:
        if issue.line is not None:
            found[issue.line].append(issue)
    return dict(found)


def _caller(session: Session) -> str:
    """Whose share of the render pool a preview or lint takes: this session's."""
    return f"session:{session.id}"


@router.get("/templates", response_class=HTMLResponse)
async def template_list(request: Request, app: AppDep, session: SessionDep) -> Response:
    live = await service.live_set(app)
    issues = await service.lint_set(live, app.settings.default_locale, caller=_caller(session))
    rows = []
    for path in sorted(live):
        key = service.key_of(path)
        mine = [i for i in issues if i.file == path]
        rows.append(
            {
                "path": path,
                "message": key.message,
                "channel": key.channel.value,
                "locale": key.locale,
                "errors": sum(1 for i in mine if i.severity == "error"),
                "warnings": sum(1 for i in mine if i.severity == "warning"),
            }
        )
    from_db = isinstance(app.templates, DbCatalog) and app.templates.from_database
    return render(request, "templates.html", session, rows=rows, from_db=from_db)


async def _editor(
    request: Request,
    app: App,
    session: Session,
    path: str,
    *,
    source: str | None = None,
    refused: list[LintIssue] | None = None,
    saved: int | None = None,
    status: int = 200,
) -> Response:
    live = await service.live_set(app)
    if path not in live:
        raise NotFound(f"no template {path}")
    versions = await service.history(app.engine, path)
    draft = live[path] if source is None else source
    preview = await service.preview(app, path, draft, caller=_caller(session))
    return render(
        request,
        "editor.html",
        session,
        status=status,
        path=path,
        source=draft,
        preview=preview,
        by_line=_by_line(preview.issues),
        versions=versions,
        diffs=service.diffs(versions),
        refused=refused,
        saved=saved,
        can_edit=session.can(Permission.TEMPLATES),
    )


@router.get("/templates/edit", response_class=HTMLResponse)
async def editor(
    request: Request, app: AppDep, session: SessionDep, path: str, saved: int | None = None
) -> Response:
    return await _editor(request, app, session, path, saved=saved)


@router.post("/templates/preview", response_class=HTMLResponse)
async def preview(request: Request, app: AppDep, session: SessionDep) -> Response:
    form = await posted(request, session)
    path = field(form, "path")
    sample: Literal["full", "sparse"] = "sparse" if field(form, "sample") == "sparse" else "full"
    raw = form.get("source")
    source = raw if isinstance(raw, str) else ""
    context: dict[str, Any] = {}
    try:
        result = await service.preview(
            app,
            path,
            source,
            customer_id=field(form, "customer") or None,
            sample=sample,
            caller=_caller(session),
        )
    except (InputError, NotFound) as exc:
        context["problem"] = str(exc)
        result = service.Preview()
    return render(
        request,
        "_preview.html",
        session,
        preview=result,
        source=source,
        by_line=_by_line(result.issues),
        **context,
    )


@router.post("/templates/save", response_class=HTMLResponse)
async def save(request: Request, app: AppDep, session: SessionDep) -> Response:
    form = await posted(request, session)
    path = field(form, "path")
    raw = form.get("source")
    source = raw if isinstance(raw, str) else ""
    result = await service.save(
        app, path, source, author=session.name, now=app.clock.now(), caller=_caller(session)
    )
    if not result.live:
        return await _editor(
            request, app, session, path, source=source, refused=result.errors, status=422
        )
    number = result.version.version if result.version else 0
    return RedirectResponse(
        f"/console/templates/edit?path={quote(path)}&saved={number}", status_code=303
    )


@router.post("/templates/restore", response_class=HTMLResponse)
async def restore(request: Request, app: AppDep, session: SessionDep) -> Response:
    form = await posted(request, session)
    path = field(form, "path")
    try:
        version = int(field(form, "version"))
    except ValueError:
        raise InputError("version: not a number") from None
    result = await service.restore(
        app, path, version, author=session.name, now=app.clock.now(), caller=_caller(session)
    )
    if not result.live:
        return await _editor(request, app, session, path, refused=result.errors, status=422)
    number = result.version.version if result.version else 0
    return RedirectResponse(
        f"/console/templates/edit?path={quote(path)}&saved={number}", status_code=303
    )
