"""Signing in to the web console with an API key.

The key is posted once to `/console/login`; the answer sets a session cookie holding the
key's id, name and role, a per-session CSRF token and an expiry, signed with HMAC-SHA256
(never the key itself). The cookie is HttpOnly, SameSite=Strict and limited to /console
(Secure when the public address, `[api] public_base_url`, or the request is HTTPS). Every
request checks the signature, that the key is still active (revoking a key ends its
sessions) and that the session was not signed out: signing out records the session in
`console_signouts` until its expiry, so a cookie saved before signing out no longer works.
Every form post carries the CSRF token in a hidden `csrf` field (htmx sends it as
`X-CSRF-Token`).

The signing secret is derived from `[api] unsubscribe_secret` when it is set, so that every
process and machine accepts the same cookies; without it each process makes its own, and a
session is only good with the process that made it (fine for one `notifier serve`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from notifier.runtime.app import App
from notifier.services.apikeys import Permission, allows, find_key
from notifier.services.console_sessions import sign_out, signed_out

COOKIE = "notifier_console"
PATH = "/console"
LIFETIME = 12 * 3600
_PROCESS_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Session:
    key_id: int
    name: str
    role: str
    csrf: str
    expires: int

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    @property
    def id(self) -> str:
        """What names the session in the sign-out list: a hash of its random CSRF token."""
        return hashlib.sha256(self.csrf.encode()).hexdigest()


def _secret(app: App) -> bytes:
    configured = app.settings.api.unsubscribe_secret
    if configured is None:
        return _PROCESS_SECRET
    return hmac.new(
        configured.get_secret_value().encode(), b"notifier web console session", hashlib.sha256
    ).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(app: App, session: Session) -> str:
    payload = {
        "k": session.key_id,
        "n": session.name,
        "r": session.role,
        "c": session.csrf,
        "e": session.expires,
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_secret(app), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def decode(app: App, cookie: str | None) -> Session | None:
    if not cookie or "." not in cookie or len(cookie) > 2048:
        return None
    body, _, mac = cookie.rpartition(".")
    expected = hmac.new(_secret(app), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        data: dict[str, Any] = json.loads(_unb64(body))
        session = Session(
            int(data["k"]), str(data["n"]), str(data["r"]), str(data["c"]), int(data["e"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


def new_session(key_id: int, name: str, role: str) -> Session:
    return Session(key_id, name, role, secrets.token_urlsafe(32), int(time.time()) + LIFETIME)


def set_cookie(response: Response, app: App, request: Request, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        encode(app, session),
        max_age=LIFETIME,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=secure(app, request),
    )


def secure(app: App, request: Request) -> bool:
    # Behind a TLS-terminating proxy the request itself arrives over plain HTTP.
    base = app.settings.api.public_base_url or ""
    return base.startswith("https://") or request.url.scheme == "https"


def clear_cookie(response: Response, app: App, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path=PATH, httponly=True, samesite="strict", secure=secure(app, request)
    )


async def end_session(app: App, session: Session) -> None:
    """Sign out: the cookie, wherever a copy of it was kept, no longer works."""
    expires = datetime.fromtimestamp(session.expires, UTC)
    await sign_out(app.engine, session.id, expires_at=expires, now=datetime.now(UTC))


async def current_session(app: App, request: Request) -> Session | None:
    """The signed-in session, if its cookie is good and its key still active."""
    session = decode(app, request.cookies.get(COOKIE))
    if session is None:
        return None
    key = await find_key(app.engine, session.key_id)
    if key is None or not key.active or key.role != session.role:
        return None
    if await signed_out(app.engine, session.id):
        return None
    return session


def csrf_ok(session: Session, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token, session.csrf)
