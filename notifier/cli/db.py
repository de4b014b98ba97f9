"""`notifier db ...`: the schema."""

from __future__ import annotations

import asyncio

import typer

from notifier.cli.runtime import console, database_errors, state
from notifier.store.db import create_engine
from notifier.store.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Create or migrate the schema to the latest version."""
    settings = state(ctx).load()

    async def go() -> str | None:
        engine = create_engine(settings.database.url)
        try:
            async with database_errors(settings.database.url):
                await upgrade(engine)
                return await current_revision(engine)
        finally:
            await engine.dispose()

    console.print(f"database at revision {asyncio.run(go())}")


@app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Show the schema revision of the database and of this version of notifier."""
    settings = state(ctx).load()

    async def go() -> str | None:
        engine = create_engine(settings.database.url)
        try:
            async with database_errors(settings.database.url):
                return await current_revision(engine)
        finally:
            await engine.dispose()

    console.print(f"database: {asyncio.run(go()) or 'empty'}; notifier: {head_revision()}")
