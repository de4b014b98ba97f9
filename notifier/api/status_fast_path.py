"""The public status page's fast path: a plain GET of a published address (`/status`, the
v2 JSON documents, the feeds) is answered from the snapshot in memory before the request
enters the application's middleware and router.

Why: during an outage the status page is the most read address there is. Served from
memory through the whole stack it still cost about 0.3 ms of CPU a request, half of it
FastAPI matching the path against every route of the API and the console; the rest was
the middleware layers, a Response object and header bookkeeping per request. Here the
address is one dict lookup and the headers of each answer are built once per snapshot.

The answer is the one the route gives: the same body and ETag (`Publication.body`), the
same headers (`Publication.headers` and `hardening.HEADERS`); a test compares them for
every published address. Each request is logged like any other (`notifier.api.access`).

What still goes the long way: a query string (`?lang=fr`), a request with a body (the size
limit judges it), any other method or address, and everything until the first snapshot is
built (its database read gets the usual error handling). Admission (the bound on requests
in flight) is skipped: these answers wait on nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.types import Scope, Send

from notifier.api.hardening import HEADERS
from notifier.runtime.status_cache import StatusCache
from notifier.services.access import Open, access_of
from notifier.web.status_published import PUBLISHED, Publication
from notifier.web.status_text import choose_locale

log = logging.getLogger(__name__)
access_log = logging.getLogger("notifier.api.access")

_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_HARDENING = [(name.encode(), value.encode()) for name, value in HEADERS]
# Client-controlled keys (Host headers, ETags of past snapshots) are kept in bounded memos.
MAX_MEMO = 256
RawHeaders = list[tuple[bytes, bytes]]


def published_routes(api: FastAPI) -> dict[str, Publication]:
    """The published addresses. Refuses to start when one has no GET route or its line in
    the permission table is not Open: the fast path checks no role."""
    routes = {
        str(context.path_format)
        for context in iter_route_contexts(api.routes)
        if "GET" in (context.methods or set())
    }
    problems: list[str] = []
    for path in PUBLISHED:
        if path not in routes:
            problems.append(f"{path}: published, but no GET route")
        elif not isinstance(access_of("GET", path), Open):
            problems.append(f"{path}: published, but not open to everyone in the table")
    if problems:
        raise RuntimeError("status fast path: " + "; ".join(problems))
    return dict(PUBLISHED)


class StatusFastPath:
    def __init__(
        self, cache: StatusCache, routes: dict[str, Publication], public_base_url: str | None
    ) -> None:
        self.cache = cache
        self.routes = routes
        self.public_base_url = public_base_url
        self._bases: dict[tuple[Any, ...], str] = {}
        self._headers: dict[tuple[str, str], tuple[RawHeaders, RawHeaders]] = {}

    async def answer(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is a plain GET of a published address; False if the
        application must."""
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["query_string"]
            or (publication := self.routes.get(scope["path"])) is None
        ):
            return False
        started = time.perf_counter()
        accept_language = if_none_match = None
        host: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"host":
                host = value
            elif name in _BODY_HEADERS:
                return False
        snap = self.cache.ready()
        if snap is None:
            return False
        try:
            base = self._base(scope, host) if publication.varies == "base" else ""
            body, etag = publication.body(snap, choose_locale(accept_language), base)
            ok, not_modified = self._raw(publication, etag, len(body))
        except Exception:
            # The route renders it again and its error is handled (and shown) as usual.
            log.exception("status fast path: %s", scope["path"])
            return False
        if if_none_match is not None and etag in if_none_match:
            status, headers, body = 304, not_modified, b""
        else:
            status, headers = 200, ok
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        access_log.info(
            "GET %s %d %.1f ms",
            publication.path,
            status,
            (time.perf_counter() - started) * 1000,
            extra={"action": "http_request"},
        )
        return True

    def _base(self, scope: Scope, host: bytes | None) -> str:
        if self.public_base_url:
            return self.public_base_url
        key = (scope.get("scheme"), scope.get("server"), host, scope.get("root_path"))
        base = self._bases.get(key)
        if base is None:
            base = str(Request(scope).base_url).rstrip("/")
            if len(self._bases) >= MAX_MEMO:
                self._bases.clear()
            self._bases[key] = base
        return base

    def _raw(
        self, publication: Publication, etag: str, length: int
    ) -> tuple[RawHeaders, RawHeaders]:
        """The 200 and 304 headers of one body, built once."""
        found = self._headers.get((publication.path, etag))
        if found is None:
            common = [
                (k.lower().encode(), v.encode()) for k, v in publication.headers(etag).items()
            ]
            ok = [
                (b"content-length", str(length).encode()),
                (b"content-type", publication.media_type.encode()),
                *common,
                *_HARDENING,
            ]
            found = (ok, [*common, *_HARDENING])
            if len(self._headers) >= MAX_MEMO:
                self._headers.clear()
            self._headers[(publication.path, etag)] = found
        return found
