"""Database fixtures: one contract suite, run on SQLite and on PostgreSQL.

Self-contained (no import from other test modules) so that it can move to tests/conftest.py
as it is.

    postgres_admin_url     session   the server's `postgres` database; skips the PostgreSQL
                                     tests when unreachable, fails them when CI=true
    postgres_database_url  module    a throwaway `notifier_test_<hex>` database, dropped after
    db_url                 function  an empty database for one test: sqlite, postgresql
    db_engine              function  an engine on db_url with the schema at head

Set NOTIFIER_TEST_POSTGRES to use another server (a postgresql:// URL of its `postgres` db).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.db import create_engine
from notifier.store.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "NOTIFIER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run admin work on a private loop. A loop_factory keeps asyncio's current loop as it
    is, so pytest-asyncio's loops (whatever their scope) are left alone."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(coroutine)


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        _run(_execute(POSTGRES_URL, "SELECT 1"))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        message = f"PostgreSQL at {make_url(POSTGRES_URL)!r} is unreachable: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI must not turn the PostgreSQL suite green by skipping it
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture(scope="module")
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """An SQLAlchemy URL of a fresh database for one test module."""
    name = f"notifier_test_{secrets.token_hex(6)}"
    _run(_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(postgres_admin_url).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        # FORCE (PostgreSQL 13+) ends connections a failed test may have left open.
        _run(_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database for this test: a file for SQLite, an emptied schema in
    the module's database for PostgreSQL (faster than a database per test)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # lock_timeout: an engine a previous test forgot to dispose would otherwise make the
    # DROP wait forever.
    _run(
        _execute(
            admin,
            "SET lock_timeout = '10s'",
            "DROP SCHEMA public CASCADE",
            "CREATE SCHEMA public",
        )
    )
    return url


@pytest_asyncio.fixture
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()
