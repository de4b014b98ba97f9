"""/api/apikeys: admins create (shown once), list and revoke API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from notifier.api.deps import Admin, AppDep
from notifier.api.types import MAX_INT, Body, Message, ShortLine
from notifier.services import apikeys as service
from notifier.services.apikeys import ApiKey, Role

router = APIRouter(prefix="/api/apikeys", tags=["api keys"])


class ApiKeyCreate(Body):
    name: ShortLine
    role: Role


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyPublic:
        return cls(
            id=key.id,
            name=key.name,
            role=Role(key.role),
            prefix=key.prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyPublic):
    key: str  # shown this once: only its hash is kept


class ApiKeyList(BaseModel):
    keys: list[ApiKeyPublic]


@router.post("", status_code=201)
async def create(app: AppDep, admin: Admin, body: ApiKeyCreate) -> ApiKeyCreated:
    """A new key; the answer holds the key itself, which is never shown again."""
    stored, key = await service.create_key(
        app.engine, name=body.name, role=body.role, now=app.clock.now()
    )
    return ApiKeyCreated(**ApiKeyPublic.of(stored).model_dump(), key=key)


@router.get("")
async def list_keys(app: AppDep, admin: Admin) -> ApiKeyList:
    return ApiKeyList(keys=[ApiKeyPublic.of(k) for k in await service.list_keys(app.engine)])


@router.post("/{key_id}/revoke", responses={404: {"model": Message}, 409: {"model": Message}})
async def revoke(
    app: AppDep, admin: Admin, key_id: Annotated[int, Path(ge=1, le=MAX_INT)]
) -> ApiKeyPublic:
    """Revoke a key at once; 409 if it already was."""
    return ApiKeyPublic.of(await service.revoke_key(app.engine, key_id, now=app.clock.now()))
