"""Dependencies as `Annotated` aliases: the app, the caller's key, and the role checks.

    async def declare(app: AppDep, key: Ops, ...)

Missing or unknown key: 401 with `WWW-Authenticate: Bearer`. A key whose role may not do
this: 403. The key itself never reaches a log line: only its id, name and prefix do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notifier.runtime.served import AppDep as AppDep  # re-exported: the routers import it from here
from notifier.services.apikeys import ApiKey, Permission, allows, authenticate

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `notifier apikeys create`: `Authorization: Bearer ntf_...`",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_key(
    app: AppDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise HTTPException(401, "missing API key (Authorization: Bearer ...)", _CHALLENGE)
    key = await authenticate(app.engine, credentials.credentials)
    if key is None:
        raise HTTPException(401, "unknown or revoked API key", _CHALLENGE)
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require(permission: Permission) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    async def check(key: CurrentKey) -> ApiKey:
        if not allows(key.role, permission):
            raise HTTPException(403, f"the {key.role} role may not do this ({permission})")
        return key

    return check


Reader = Annotated[ApiKey, Depends(require(Permission.READ))]
Ops = Annotated[ApiKey, Depends(require(Permission.INCIDENTS))]
CustomerEditor = Annotated[ApiKey, Depends(require(Permission.CUSTOMERS))]
TemplateEditor = Annotated[ApiKey, Depends(require(Permission.TEMPLATES))]
Helpdesk = Annotated[ApiKey, Depends(require(Permission.CONTACTS))]
Admin = Annotated[ApiKey, Depends(require(Permission.KEYS))]
OutboxOperator = Annotated[ApiKey, Depends(require(Permission.OUTBOX))]
