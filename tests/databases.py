"""Throwaway databases for tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

PG_HOST = os.environ.get("NOTIFIER_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("NOTIFIER_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("NOTIFIER_TEST_PG_USER", "postgres")


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


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


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"notifier_test_{uuid.uuid4().hex[:12]}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await _admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'notifier.db'}"
