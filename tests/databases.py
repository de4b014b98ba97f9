"""Throwaway databases for tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from notifier.store.db import create_engine
from notifier.store.migrate import MIGRATIONS, upgrade
from tests.ci import under_ci

PG_HOST = os.environ.get("NOTIFIER_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("NOTIFIER_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("NOTIFIER_TEST_PG_USER", "postgres")


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
        )
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable: {exc}"
        if under_ci():
            pytest.fail(message + " (under CI the PostgreSQL tests must run)")
        pytest.skip(message)


def _url(name: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


def _schema_fingerprint() -> str:
    """Changes whenever a migration file changes, so a stale template is never used."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


_template_ready: set[str] = set()


async def _migrated_template(admin: asyncpg.Connection) -> str:
    """A migrated database to copy: migrating once per schema, not once per test."""
    name = f"notifier_template_{_schema_fingerprint()}"
    if name in _template_ready:
        return name
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    if not exists:
        building = f"{name}_{uuid.uuid4().hex[:6]}"
        await admin.execute(f'CREATE DATABASE "{building}"')
        engine = create_engine(_url(building))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        # Renamed only once complete, so an interrupted build is never taken as a template.
        try:
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        except asyncpg.DuplicateDatabaseError:
            await admin.execute(f'DROP DATABASE "{building}"')
    _template_ready.add(name)
    return name


@asynccontextmanager
async def postgres_database(*, migrated: bool = False) -> AsyncIterator[str]:
    """Create a database (empty, or already migrated), yield its URL, drop it afterwards."""
    name = f"notifier_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin()
    try:
        if migrated:
            template = await _migrated_template(admin)
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _url(name)
    finally:
        admin = await _admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'notifier.db'}"


_shared: dict[str, str] = {}


async def shared_migrated_database() -> str:
    """One migrated database for this test session, emptied before each use.

    Emptying ~10 tables costs milliseconds; copying a database costs half a second per test.
    The name carries the process id, so concurrent test runs never share it.
    """
    admin = await _admin()
    try:
        if "name" not in _shared:
            name = f"notifier_shared_{os.getpid()}_{_schema_fingerprint()}"
            template = await _migrated_template(admin)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            _shared["name"] = name
    finally:
        await admin.close()
    conn = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database=_shared["name"], timeout=5
    )
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    return _url(_shared["name"])


async def drop_shared_database() -> None:
    name = _shared.pop("name", None)
    if name is None:
        return
    admin = await _admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
