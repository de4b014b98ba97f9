"""What the public status page publishes at a fixed address, in one table: the page, the
v2 JSON documents and the feeds. Each entry renders its body from the snapshot in memory
(once per snapshot, language and base address) and answers with an ETag.

Both the routes and the fast path (`notifier.api.status_fast_path`) answer through
`Publication.respond`, so a reader gets the same bytes and headers either way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fastapi import Request
from fastapi.responses import Response

from notifier.services.status_page import StatusSnapshot
from notifier.web.status_text import choose_locale

# Short: a reader sees a change within a minute even through a cache; revalidating with
# the ETag costs a 304.
CACHE_CONTROL = "public, max-age=15, stale-while-revalidate=30"
MAX_RENDERED = 256  # bodies kept per snapshot (pages x languages x base addresses)


class Rendered:
    """Bodies rendered from one snapshot; dropped wholesale when a newer one comes."""

    def __init__(self) -> None:
        # By identity, not version: several apps in one process (tests) number theirs alike.
        self.snapshot: StatusSnapshot | None = None
        self.bodies: dict[tuple[str, ...], tuple[bytes, str]] = {}

    def get(
        self, snap: StatusSnapshot, key: tuple[str, ...], make: Callable[[], str]
    ) -> tuple[bytes, str]:
        if snap is not self.snapshot:
            self.snapshot, self.bodies = snap, {}
        found = self.bodies.get(key)
        if found is None:
            body = make().encode("utf-8")
            etag = f'"s{snap.version}-{hashlib.sha256(body).hexdigest()[:20]}"'
            found = (body, etag)
            if len(self.bodies) < MAX_RENDERED:
                self.bodies[key] = found
        return found


def cached_response(
    request: Request, body: bytes, etag: str, media_type: str, status: int = 200
) -> Response:
    """An answer with an ETag (a reader that has it gets a 304), for pages not in the
    table (a past incident's)."""
    return _answer(request, body, etag, media_type, cache_headers(etag), status)


def cache_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Language"}


def _answer(
    request: Request,
    body: bytes,
    etag: str,
    media_type: str,
    headers: dict[str, str],
    status: int = 200,
) -> Response:
    if status == 200 and etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def base_url(request: Request) -> str:
    """The address links in the documents start with: the configured public one, else the
    request's own."""
    configured = request.app.state.notifier.settings.api.public_base_url
    return str(configured or str(request.base_url).rstrip("/"))


@dataclass(frozen=True, slots=True)
class Reader:
    locale: str
    base: str


Render = Callable[[StatusSnapshot, Reader], str]
# What a body varies with besides the snapshot: the reader's language (pages) or the base
# address (documents whose links are absolute).
Varies = Literal["locale", "base"]


@dataclass(frozen=True)
class Publication:
    path: str
    media_type: str
    render: Render
    varies: Varies
    # Dashboards on other sites read the JSON from the browser.
    cors: bool = False

    def body(self, snap: StatusSnapshot, locale: str, base: str) -> tuple[bytes, str]:
        """The body for this reader and its ETag, rendered once per snapshot."""
        if self.varies == "base":
            reader, key = Reader(locale, base), (self.path, base)
        else:
            reader, key = Reader(locale, ""), (self.path, locale)
        return _rendered.get(snap, key, lambda: self.render(snap, reader))

    def headers(self, etag: str) -> dict[str, str]:
        """The headers of the answer, 200 or 304, besides those every answer carries."""
        headers = cache_headers(etag)
        if self.cors:
            headers["Access-Control-Allow-Origin"] = "*"
        return headers

    def respond(self, request: Request, snap: StatusSnapshot, lang: str | None = None) -> Response:
        locale = choose_locale(request.headers.get("accept-language"), lang)
        base = base_url(request) if self.varies == "base" else ""
        body, etag = self.body(snap, locale, base)
        return _answer(request, body, etag, self.media_type, self.headers(etag))


_rendered = Rendered()
PUBLISHED: dict[str, Publication] = {}


def publish(
    path: str, media_type: str, render: Render, *, varies: Varies, cors: bool = False
) -> Publication:
    """Register what `path` publishes (the fast path serves exactly these addresses)."""
    publication = Publication(path, media_type, render, varies, cors)
    PUBLISHED[path] = publication
    return publication
