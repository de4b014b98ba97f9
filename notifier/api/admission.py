"""Shed load early: above `api.max_in_flight` requests at once, answer 503 at once.

Without it, a server offered more than it can do collapses instead of degrading: every
request is taken, each waits longer for the CPU and for a database connection, callers give
up while their requests are still worked on, and the pool's queue grows until requests fail
after its 30 s timeout (seen in the load test at 220 order events/s: about 3,800 events
committed, under 800 answered within 10 s). A prompt 503 with `Retry-After` lets a caller
back off, or go to another server, while the requests already taken finish in good time.

Health checks, metrics and Twilio's webhooks are always let in: they are few, and a
monitor or a provider should not read "busy" as "down".
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

_ALWAYS = ("/healthz", "/metrics", "/webhooks/")
_BUSY = json.dumps({"detail": "the server is busy; retry in a moment"}).encode()


class Admission:
    def __init__(self, app: ASGIApp, *, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.turned_away = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_ALWAYS):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.turned_away += 1
            if self.turned_away % 1000 == 1:  # the first of each thousand: not a log flood
                log.warning(
                    "busy: %d requests in flight, turning new ones away with 503 "
                    "(%d so far; api.max_in_flight)",
                    self.in_flight,
                    self.turned_away,
                    extra={"action": "load_shed"},
                )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", b"1"),
                        (b"content-length", str(len(_BUSY)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BUSY})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
