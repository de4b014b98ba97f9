"""The public status page: /status, and a page per incident. No key needed.

Rendered from the snapshot in memory (never from the database), once per snapshot,
language and page, then served with an ETag: a reader that already has it gets a 304.
Works without JavaScript; a small script only moves the UTC times into the reader's zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from importlib.resources import files
from itertools import groupby
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from notifier.runtime.status_cache import StatusCacheDep
from notifier.services.status_page import StatusSnapshot, severity_indicator
from notifier.web.status_published import Reader, Rendered, cached_response, publish
from notifier.web.status_text import TEXT, choose_locale, utc_day, utc_time

router = APIRouter(prefix="/status", include_in_schema=False)

PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("notifier.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_STATIC = {"status.js": "text/javascript", "status.css": "text/css"}
_rendered = Rendered()  # incident pages


def page_context(snap: StatusSnapshot, locale: str) -> dict[str, Any]:
    t = TEXT[locale]
    names = {r.view.service.key: r.view.service.name for r in snap.services}

    def when(value: datetime) -> Markup:
        iso = escape(value.isoformat())
        return Markup(f'<time datetime="{iso}" data-local>{escape(utc_time(value, locale))}</time>')

    def day(value: date) -> str:
        return utc_day(value, locale)

    def said(subject: Any, name: str) -> Markup:
        """The operator's text in the reader's language where given; marked with its own
        language when it is another (screen readers pronounce it right)."""
        text, language = snap.said(subject, name, locale)
        if not text:
            return Markup("")
        if language.split("_")[0] != locale:
            return Markup(f'<span lang="{escape(language)}">{escape(text)}</span>')
        return escape(text)

    def status_label(status: str) -> str:
        return t["declared_status"] if status == "declared" else t[status]

    def service_names(keys: Iterable[str]) -> str:
        return ", ".join(names.get(k, k) for k in keys)

    groups = [
        (group, list(rows))
        for group, rows in groupby(snap.services, key=lambda r: r.view.service.group or "")
    ]
    return {
        "snap": snap,
        "locale": locale,
        "t": t,
        "when": when,
        "day": day,
        "status_label": status_label,
        "said": said,
        "names": service_names,
        "groups": groups,
    }


Lang = Annotated[str | None, Query(max_length=8, description="en or fr")]


def _page(snap: StatusSnapshot, reader: Reader) -> str:
    return PAGES.get_template("status/page.html").render(page_context(snap, reader.locale))


PAGE = publish("/status", "text/html; charset=utf-8", _page, varies="locale")


@router.get("")
async def status_page(request: Request, cache: StatusCacheDep, lang: Lang = None) -> Response:
    return PAGE.respond(request, await cache.current(), lang)


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request,
    cache: StatusCacheDep,
    incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    lang: Lang = None,
) -> Response:
    snap = await cache.current()
    locale = choose_locale(request.headers.get("accept-language"), lang)
    public = snap.by_id.get(incident_id)
    if public is None:
        html = PAGES.get_template("status/not_found.html").render(page_context(snap, locale))
        return Response(html, status_code=404, media_type="text/html; charset=utf-8")
    body, etag = _rendered.get(
        snap,
        ("incident", str(incident_id), locale),
        lambda: PAGES.get_template("status/incident.html").render(
            page_context(snap, locale)
            | {"p": public, "impact": severity_indicator(public.incident.severity)}
        ),
    )
    return cached_response(request, body, etag, "text/html; charset=utf-8")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC:
        raise HTTPException(404, "no such file")
    body = files("notifier.web").joinpath("static", name).read_bytes()
    return Response(
        body, media_type=_STATIC[name], headers={"Cache-Control": "public, max-age=3600"}
    )
