"""API keys and roles: create (shown once), list, revoke, and who may do what.

A key is `ntf_` + 43 URL-safe characters (32 random bytes). Only its SHA-256 is stored:
with 256 bits of entropy no slow hash is needed, and finding a key by its hash is one
indexed lookup. The first 12 characters (`prefix`) name it in listings and logs; the key
itself is never logged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.store import apikeys as store
from notifier.store.apikeys import ApiKey as ApiKey
from notifier.store.db import reads

KEY_PREFIX = "ntf_"
_SHOWN = 12  # characters of a key kept for display
# A person's or a system's name, as people write them ("Ann (ops)", "O'Brien, on call"):
# one line of printable text, no markup characters.
_NAME = re.compile(r"^[\w .@:/()',&+#-]{1,128}$")


class Role(StrEnum):
    OPS = "ops"
    SUPPORT = "support"
    VIEWER = "viewer"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    INCIDENTS = "incidents:write"  # declare, update, resolve
    ORDERS = "orders:write"  # post order events
    CUSTOMERS = "customers:write"  # create, update, import
    TEMPLATES = "templates:write"  # preview drafts (edit, once templates can be edited)
    CONTACTS = "contacts:write"  # a helpdesk reports that a customer contacted us
    KEYS = "apikeys:admin"  # create, list, revoke API keys


R = Role
# Who may do what. Every role reads; ops run incidents and orders; support keep customers,
# templates and the contact log; admin may do everything, including managing keys.
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ: frozenset(Role),
    Permission.INCIDENTS: frozenset({R.OPS, R.ADMIN}),
    Permission.ORDERS: frozenset({R.OPS, R.ADMIN}),
    Permission.CUSTOMERS: frozenset({R.SUPPORT, R.ADMIN}),
    Permission.TEMPLATES: frozenset({R.SUPPORT, R.ADMIN}),
    Permission.CONTACTS: frozenset({R.SUPPORT, R.ADMIN}),
    Permission.KEYS: frozenset({R.ADMIN}),
}


def allows(role: str, permission: Permission) -> bool:
    return role in PERMISSIONS[permission]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(f"role: {role!r} is not one of {', '.join(Role)}") from None


async def create_key(
    engine: AsyncEngine, *, name: str, role: Role | str, now: datetime
) -> tuple[ApiKey, str]:
    """A new key: (what is stored, the key itself, to be shown once and never again)."""
    clean = name.strip()
    if not _NAME.match(clean):
        raise InputError("name: 1 to 128 letters, digits, spaces or . _ @ : / ( ) ' , & + # -")
    level = _role(role)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        stored = await store.insert_key(
            conn, name=clean, role=level.value, prefix=key[:_SHOWN], key_hash=hash_key(key), now=now
        )
    return stored, key


async def list_keys(engine: AsyncEngine) -> list[ApiKey]:
    async with engine.connect() as conn:
        return await store.list_keys(conn)


async def find_key(engine: AsyncEngine, key_id: int) -> ApiKey | None:
    """The key with id `key_id`, active or not; None if there is none."""
    async with engine.connect() as conn:
        try:
            return await store.get_key(conn, key_id)
        except NotFound:
            return None


async def revoke_key(engine: AsyncEngine, key_id: int, *, now: datetime) -> ApiKey:
    """Revoke at once: the next request with the key gets 401."""
    async with engine.begin() as conn:
        current = await store.get_key(conn, key_id)
        if not await store.set_revoked(conn, key_id, now):
            raise InvalidTransition(
                f"API key {key_id} ({current.prefix}...)", "revoked", "revoked", frozenset()
            )
        return await store.get_key(conn, key_id)


async def authenticate(engine: AsyncEngine, key: str) -> ApiKey | None:
    """The active key `key` is, or None (unknown, malformed or revoked)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    async with reads(engine) as conn:
        found = await store.find_by_hash(conn, hash_key(key))
    return found if found is not None and found.active else None
