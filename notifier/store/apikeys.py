"""API keys: stored by hash, found by hash, revoked by time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.errors import NotFound
from notifier.store.api_tables import api_keys


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: never the key itself."""

    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


_COLUMNS = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.prefix,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)
# Every API request looks its key up: built once (building cost more than running it).
_BY_HASH = select(*_COLUMNS).where(api_keys.c.key_hash == bindparam("key_hash"))


def _key(row: Row[*tuple[Any, ...]]) -> ApiKey:
    return ApiKey(row.id, row.name, row.role, row.prefix, row.created_at, row.revoked_at)


async def insert_key(
    conn: AsyncConnection, *, name: str, role: str, prefix: str, key_hash: str, now: datetime
) -> ApiKey:
    result = await conn.execute(
        insert(api_keys)
        .values(name=name, role=role, prefix=prefix, key_hash=key_hash, created_at=now)
        .returning(*_COLUMNS)
    )
    return _key(result.one())


async def find_by_hash(conn: AsyncConnection, key_hash: str) -> ApiKey | None:
    row = (await conn.execute(_BY_HASH, {"key_hash": key_hash})).first()
    return _key(row) if row is not None else None


async def get_key(conn: AsyncConnection, key_id: int) -> ApiKey:
    row = (await conn.execute(select(*_COLUMNS).where(api_keys.c.id == key_id))).first()
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    return _key(row)


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    return [_key(r) for r in (await conn.execute(select(*_COLUMNS).order_by(api_keys.c.id)))]


async def set_revoked(conn: AsyncConnection, key_id: int, now: datetime) -> bool:
    """Revoke the key; False if it was already revoked."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)
