"""The public status page's fast path: a plain GET of a published address (`/status`, the
v2 JSON documents, the feeds) is answered from the snapshot in memory before the request
reaches the router.

Why: during an outage the status page is the most read address there is, and the page was
served from memory yet cost about 0.3 ms of CPU per request, half of it FastAPI matching
the path against every route of the API and the console. Here the address is one dict
lookup; the answer is built by the same `Publication.respond` the routes use, and carries
the headers every answer carries (`hardening.harden`), so a reader cannot tell the paths
apart.

What still goes the long way: a query string (`?lang=fr`), a request with a body (the size
limit judges it), any other method and any other address. The access log still records
every request under its route's template. Admission (the bound on requests in flight) is
skipped: these answers wait on nothing but the first snapshot.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier.api.hardening import harden
from notifier.runtime.status_cache import StatusCache
from notifier.services.access import Open, access_of
from notifier.web.status_published import PUBLISHED, Publication

_BODY_HEADERS = (b"content-length", b"transfer-encoding")


def fast_routes(api: FastAPI) -> dict[str, tuple[Publication, Any]]:
    """Each published address with its route (for the access log). Refuses to start when a
    published address has no GET route or its line in the permission table is not Open:
    the fast path checks no role."""
    routes = {
        str(context.path_format): context.original_route
        for context in iter_route_contexts(api.routes)
        if "GET" in (context.methods or set())
    }
    found: dict[str, tuple[Publication, Any]] = {}
    problems: list[str] = []
    for path, publication in PUBLISHED.items():
        if path not in routes:
            problems.append(f"{path}: published, but no GET route")
        elif not isinstance(access_of("GET", path), Open):
            problems.append(f"{path}: published, but not open to everyone in the table")
        else:
            found[path] = (publication, routes[path])
    if problems:
        raise RuntimeError("status fast path: " + "; ".join(problems))
    return found


class StatusFastPath:
    def __init__(
        self, app: ASGIApp, *, cache: StatusCache, routes: dict[str, tuple[Publication, Any]]
    ) -> None:
        self.app = app
        self.cache = cache
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["query_string"]
            or (found := self.routes.get(scope["path"])) is None
            or any(name in _BODY_HEADERS for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        publication, route = found
        scope["route"] = route  # the access log names the route's template
        response = publication.respond(Request(scope), await self.cache.current())

        async def hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                harden(message)
            await send(message)

        await response(scope, receive, hardened)
