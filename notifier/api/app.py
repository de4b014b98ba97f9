"""The FastAPI application: routers by area, error handlers, the worker alongside.

    create_app(app, run_worker=True)    what `notifier serve` runs

With `run_worker` the worker (planning, follow-ups, sending) runs in the same event loop
for as long as the server does; `notifier serve --no-worker` leaves it to separate
`notifier worker` processes. A new area (orders) is one more router in `ROUTERS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier import __version__
from notifier.api import (
    apikeys,
    contacts,
    customers,
    deliveries,
    docs,
    health,
    incidents,
    maintenance,
    orders,
    preferences,
    rules,
    services,
    templates,
    webhooks,
)
from notifier.api.admission import Admission
from notifier.api.errors import install_error_handlers
from notifier.api.hardening import Hardening
from notifier.api.status_fast_path import StatusFastPath, published_routes
from notifier.runtime.app import App
from notifier.runtime.guard import bind_access
from notifier.runtime.status_cache import StatusCache
from notifier.runtime.worker import Worker
from notifier.web import router as web_console
from notifier.web import status_router
from notifier.web.errors import page_for as console_error_page

log = logging.getLogger(__name__)
access_log = logging.getLogger("notifier.api.access")

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    docs.router,
    incidents.router,
    services.router,
    maintenance.router,
    orders.router,
    customers.router,
    contacts.router,
    deliveries.router,
    templates.router,
    rules.router,
    apikeys.router,
    webhooks.router,
    preferences.router,
    web_console,
    status_router,
)


class AccessLog:
    """One line per request, naming the route's template (`/u/{token}`), never the path:
    paths hold unsubscribe tokens. (uvicorn's own access log is turned off by `serve`.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", "(no route)")
            access_log.info(
                "%s %s %d %.1f ms",
                scope["method"],
                route,
                status,
                (time.perf_counter() - start) * 1000,
                extra={"action": "http_request"},
            )


class NotifierAPI(FastAPI):
    """FastAPI, with the public status page's fast path in front of everything."""

    status_fast_path: StatusFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.status_fast_path
        if fast is not None and await fast.answer(scope, send):
            return
        await super().__call__(scope, receive, send)


async def _run_worker(app: App, stop: asyncio.Event) -> None:
    worker = Worker(app)
    log.info("worker %s running in the server process", worker.id, extra={"action": "worker"})
    try:
        await worker.run(stop)
    except Exception:
        log.exception("the in-process worker stopped", extra={"action": "worker_crashed"})
        raise


def create_app(app: App, *, run_worker: bool) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[dict[str, Any]]:
        stop = asyncio.Event()
        task = asyncio.create_task(_run_worker(app, stop)) if run_worker else None
        try:
            yield {}
        finally:
            stop.set()
            await status_cache.close()
            if task is not None:
                with contextlib.suppress(Exception):
                    await task

    api = NotifierAPI(
        title="notifier",
        version=__version__,
        summary="Tell customers about outages before they call.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by `docs`, without a CDN
        redoc_url=None,
    )
    api.state.notifier = app
    status_cache = StatusCache(app, interval=app.settings.api.status_refresh)
    api.state.status_cache = status_cache
    install_error_handlers(api, page=console_error_page)
    for router in ROUTERS:
        api.include_router(router)
    bind_access(api)
    # The last added is the outermost: the access log (every request), then admission (the
    # bound on requests in flight), then hardening (size limits, headers). The status page's
    # published addresses are answered ahead of all three (`NotifierAPI`, status_fast_path).
    api.add_middleware(
        Hardening,
        max_body_bytes=app.settings.api.max_body_bytes,
        large={"/api/customers/import": app.settings.api.max_import_bytes},
    )
    api.add_middleware(Admission, max_in_flight=app.settings.api.max_in_flight)
    api.add_middleware(AccessLog)
    api.status_fast_path = StatusFastPath(
        status_cache, published_routes(api), app.settings.api.public_base_url
    )
    return api
