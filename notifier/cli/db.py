"""`notifier db ...`: the schema."""

from __future__ import annotations

import asyncio

import typer

from notifier.cli.runtime import console, database_errors, state
from notifier.services import database

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Create or migrate the schema to the latest version."""
    settings = state(ctx).load()

    async def go() -> str | None:
        async with database_errors(settings.database.url):
            return await database.upgrade_schema(settings.database.url)

    console.print(f"database at revision {asyncio.run(go())}")


@app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Show the schema revision of the database and of this version of notifier."""
    settings = state(ctx).load()

    async def go() -> str | None:
        async with database_errors(settings.database.url):
            return await database.schema_revision(settings.database.url)

    current = asyncio.run(go()) or "empty"
    console.print(f"database: {current}; notifier: {database.code_revision()}")
