"""What every answer and every request body goes through: size limits, a Content-Type,
and the headers that keep pages out of frames, caches and Referer lines.

Neither uvicorn nor Starlette limits a request body: a 100 MB JSON body was read whole
(memory 145 -> 402 MB) before anything looked at it. Here a body is refused with 413 as soon
as its Content-Length, or the bytes streamed so far, pass the limit; the message says what
was too big and what the limit is. The customer import takes more than other routes.

A POST without a Content-Type is not parsed as JSON (FastAPI's strict content type, which
keeps a browser's plain cross-site POST out); without this check its 422 said only that the
body was missing. It gets 415 naming the header.

Headers, on every answer:
- `Content-Security-Policy: frame-ancestors 'none'` and `X-Frame-Options: DENY`: a page on
  another port of the same host is the same *site*, so SameSite cookies do not stop it from
  framing the signed-in console and borrowing a click;
- `Referrer-Policy: same-origin`: unsubscribe pages carry their token in the path, and no
  other site may see it (not `no-referrer`: with it a browser sends `Origin: null` on the
  console's own forms, and the Origin check refuses them);
- `Cache-Control: no-store` unless the route chose its own caching: pages and answers show
  customers' contact data and tokens.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
HEADERS = (
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
)


class BodyTooLarge(HTTPException):
    """Raised while the body streams in. An HTTPException, so that FastAPI's body reader
    passes it through and the error handlers answer it like any other (JSON or a page)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"request body too large: over {limit:,} bytes (the limit for this address)"


class Hardening:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, large: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.large = large or {}  # path -> a larger limit (the customer import)

    def limit_for(self, path: str) -> int:
        return self.large.get(path.rstrip("/"), self.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            what = too_large(limit) if declared.isdigit() else "Content-Length: not a number"
            await _refuse(send, 413 if declared.isdigit() else 400, what)
            return
        if (
            scope["method"] in _WITH_BODY
            and scope["path"].startswith("/api/")
            and "content-type" not in headers
            and (declared not in (None, "0") or "transfer-encoding" in headers)
        ):
            await _refuse(send, 415, "Content-Type: missing; send application/json")
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                harden(message)
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge as exc:
            # A route that read the body itself, outside FastAPI's error handlers.
            if started:
                raise
            await _refuse(guarded_send, 413, str(exc.detail))


def harden(start: Message) -> None:
    """Add the headers every answer carries to an `http.response.start` message (also used
    by the status page's fast path, which answers before this middleware)."""
    response_headers = MutableHeaders(scope=start)
    for name, value in HEADERS:
        response_headers.setdefault(name, value)
    response_headers.setdefault("cache-control", "no-store")


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is not read
        (b"cache-control", b"no-store"),
    ]
    headers += [(n.encode(), v.encode()) for n, v in HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
