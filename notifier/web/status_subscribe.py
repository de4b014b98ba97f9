"""Subscriptions from the public status page: subscribe, confirm (a link or a code),
manage and cancel, without an account.

Every POST is refused unless it comes from this site (its Origin header: browsers send one
with every POST, and a page elsewhere cannot forge it), its body is over MAX_BODY bytes, or
its client has posted more than PER_CLIENT times in the last hour (per process: a front
proxy's limits come first in a scaled-out deployment). Confirmation links only show a
button: a mail scanner that follows links must not confirm anybody.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.errors import InputError
from notifier.runtime.served import AppDep
from notifier.runtime.status_cache import StatusCacheDep
from notifier.services import subscriptions as service
from notifier.web.status_page import PAGES, Lang, page_context
from notifier.web.status_text import TEXT, choose_locale

router = APIRouter(prefix="/status", include_in_schema=False)
MAX_BODY = 8192
PER_CLIENT = 20
WINDOW = 3600.0
MAX_CLIENTS = 100_000  # remembered at once; the oldest are forgotten first
# Same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on POST.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


class ClientLimit:
    """At most `limit` posts per client address per `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.seen: dict[str, deque[float]] = {}

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        times = self.seen.pop(client, None) or deque()
        while times and now - times[0] > self.window:
            times.popleft()
        if len(self.seen) >= MAX_CLIENTS:
            self.seen.pop(next(iter(self.seen)))
        self.seen[client] = times  # re-inserted: the dict stays in order of last use
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


def limits_of(request: Request) -> ClientLimit:
    """The application's limiter (one per app, made on first use)."""
    state = request.app.state
    if not hasattr(state, "subscribe_limits"):
        state.subscribe_limits = ClientLimit(PER_CLIENT, WINDOW)
    limiter: ClientLimit = state.subscribe_limits
    return limiter


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    html = PAGES.get_template(f"status/{name}.html").render(context)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


async def _form(request: Request) -> dict[str, list[str]]:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-site form refused")
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > MAX_BODY:
        raise HTTPException(413, f"a form of at most {MAX_BODY} bytes")
    client = request.client.host if request.client else "unknown"
    if not limits_of(request).allow(client):
        raise HTTPException(429, "too many requests; try again later", {"Retry-After": "3600"})
    form = await request.form(max_files=0, max_fields=100)
    return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form}


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


async def _base(request: Request, cache: StatusCacheDep, lang: str | None) -> dict[str, Any]:
    snap = await cache.current()
    locale = choose_locale(request.headers.get("accept-language"), lang)
    return page_context(snap, locale)


@router.get("/subscribe")
async def subscribe_form(request: Request, cache: StatusCacheDep, lang: Lang = None) -> Response:
    context = await _base(request, cache, lang)
    return _page(request, "subscribe", context | {"error": None, "done": None})


@router.post("/subscribe")
async def subscribe(
    request: Request, app: AppDep, cache: StatusCacheDep, lang: Lang = None
) -> Response:
    form = await _form(request)
    context = await _base(request, cache, lang)
    try:
        verify = await service.subscribe(
            app.engine,
            app.settings,
            channel=_one(form, "channel"),
            address=_one(form, "address"),
            services=form.get("services", [])[: service.MAX_SERVICES + 1],
            locale=context["locale"],
            now=app.clock.now(),
        )
    except service.NotAvailable:
        raise HTTPException(404, "subscriptions are not available here") from None
    except InputError as exc:
        return _page(request, "subscribe", context | {"error": str(exc), "done": None}, 422)
    if verify is not None:
        return RedirectResponse(
            f"/status/subscribe/verify/{verify}?lang={context['locale']}", status_code=303
        )
    done = TEXT[context["locale"]]["check_inbox"]
    return _page(request, "subscribe", context | {"error": None, "done": done})


@router.get("/subscribe/confirm/{token}")
@router.get("/subscribe/verify/{token}")
async def confirm_form(
    request: Request, cache: StatusCacheDep, token: str, lang: Lang = None
) -> Response:
    context = await _base(request, cache, lang)
    ask_code = "/verify/" in request.url.path
    return _page(request, "confirm", context | {"error": None, "ask_code": ask_code})


@router.post("/subscribe/confirm/{token}")
@router.post("/subscribe/verify/{token}")
async def confirm(
    request: Request, app: AppDep, cache: StatusCacheDep, token: str, lang: Lang = None
) -> Response:
    form = await _form(request)
    context = await _base(request, cache, lang)
    ask_code = "/verify/" in request.url.path
    try:
        if ask_code:
            manage = await service.verify(
                app.engine, app.settings, token, _one(form, "code"), now=app.clock.now()
            )
        else:
            manage = await service.confirm(app.engine, app.settings, token, now=app.clock.now())
    except InputError as exc:
        error = context | {"error": str(exc), "ask_code": ask_code}
        return _page(request, "confirm", error, 422)
    return RedirectResponse(
        f"/status/subscription/{manage}?lang={context['locale']}", status_code=303
    )


@router.get("/subscription/{token}")
async def manage(
    request: Request, app: AppDep, cache: StatusCacheDep, token: str, lang: Lang = None
) -> Response:
    context = await _base(request, cache, lang)
    try:
        sub = await service.show(app.engine, app.settings, token, now=app.clock.now())
    except InputError as exc:
        raise HTTPException(404, str(exc)) from None
    return _page(request, "manage", context | {"sub": sub, "error": None, "note": None})


@router.post("/subscription/{token}")
async def manage_post(
    request: Request, app: AppDep, cache: StatusCacheDep, token: str, lang: Lang = None
) -> Response:
    form = await _form(request)
    context = await _base(request, cache, lang)
    t = TEXT[context["locale"]]
    now = app.clock.now()
    try:
        if _one(form, "action") == "cancel":
            await service.cancel(app.engine, app.settings, token, now=now)
            note = t["cancelled"]
        else:
            await service.change(app.engine, app.settings, token, form.get("services", []), now=now)
            note = t["saved"]
        sub = await service.show(app.engine, app.settings, token, now=now)
    except InputError as exc:
        try:
            sub = await service.show(app.engine, app.settings, token, now=now)
        except InputError:
            raise HTTPException(404, str(exc)) from None
        return _page(
            request, "manage", context | {"sub": sub, "error": str(exc), "note": None}, 422
        )
    return _page(request, "manage", context | {"sub": sub, "error": None, "note": note})
