"""Dependencies as `Annotated` aliases: the app, the caller's key, and the role checks.

    async def declare(app: AppDep, key: Ops, ...)

Missing or unknown key: 401 with `WWW-Authenticate: Bearer`. A key whose role may not do
this: 403. The key itself never reaches a log line: only its id, name and prefix do.

What a route needs is the line of `services.access.ROUTES` for it, the table the console
checks too; `runtime.guard.bind_access` (run by `create_app`) finds every route's line,
refuses to start when one is missing, and checks that an alias on a route (`Ops` needs
incidents:write) says what the table says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notifier.runtime.guard import refusal
from notifier.runtime.served import AppDep as AppDep  # re-exported: the routers import it from here
from notifier.services.apikeys import ApiKey, Permission, authenticate

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `notifier apikeys create`: `Authorization: Bearer ntf_...`",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_key(
    request: Request,
    app: AppDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise HTTPException(401, "missing API key (Authorization: Bearer ...)", _CHALLENGE)
    key = await authenticate(app.engine, credentials.credentials)
    if key is None:
        raise HTTPException(401, "unknown or revoked API key", _CHALLENGE)
    why = refusal(key.role, request)
    if why is not None:
        raise HTTPException(403, why)
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require(permission: Permission) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A route's declaration of what it needs; the check itself is `current_key`'s, from
    the table, and `runtime.guard.bind_access` makes sure the two agree."""

    async def check(key: CurrentKey) -> ApiKey:
        return key

    check.permission = permission  # type: ignore[attr-defined]
    return check


Reader = Annotated[ApiKey, Depends(require(Permission.READ))]
Ops = Annotated[ApiKey, Depends(require(Permission.INCIDENTS))]
OrderWriter = Annotated[ApiKey, Depends(require(Permission.ORDERS))]
CustomerEditor = Annotated[ApiKey, Depends(require(Permission.CUSTOMERS))]
TemplateEditor = Annotated[ApiKey, Depends(require(Permission.TEMPLATES))]
Helpdesk = Annotated[ApiKey, Depends(require(Permission.CONTACTS))]
Admin = Annotated[ApiKey, Depends(require(Permission.KEYS))]
