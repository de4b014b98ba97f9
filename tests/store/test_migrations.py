"""The migrations build exactly the schema the code describes, on both stores."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.migrate import current_revision, head_revision, upgrade
from notifier.store.schema import metadata


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, metadata))


def _unique_columns(connection: Connection, table: str) -> list[list[str]]:
    return [u["column_names"] for u in inspect(connection).get_unique_constraints(table)]


async def test_upgrade_reaches_head_and_matches_the_tables(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_upgrade_twice_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema_diff) == []


async def test_the_outbox_key_is_unique_in_the_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert ["idempotency_key"] in await conn.run_sync(_unique_columns, "outbox")
