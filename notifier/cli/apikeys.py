"""`notifier apikeys ...`: create (shown once), list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from notifier.cli.runtime import console, local, print_json, run_with_app
from notifier.runtime.app import App
from notifier.services import apikeys as service
from notifier.services.apikeys import ApiKey

app = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="ops, support, viewer or admin.")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses it.")],
    as_json: JsonOpt = False,
) -> None:
    """Create a key. It is printed once: only its hash is kept."""

    async def go(a: App) -> tuple[ApiKey, str]:
        return await service.create_key(a.engine, name=name, role=role, now=a.clock.now())

    stored, key = run_with_app(ctx, go)
    if as_json:
        print_json({**stored.as_json(), "key": key})
        return
    console.print(f"API key {stored.id} ({stored.name}, role {stored.role}):")
    print(key)  # plain stdout, so that it can be piped into a secret store
    console.print("Keep it now: it cannot be shown again.", style="yellow")


@app.command("list")
def list_keys(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every key, revoked ones included (never the keys themselves)."""

    async def go(a: App) -> list[ApiKey]:
        return await service.list_keys(a.engine)

    keys = run_with_app(ctx, go)
    if as_json:
        print_json({"keys": [k.as_json() for k in keys]})
        return
    table = Table("id", "name", "role", "key starts with", "created", "revoked")
    for k in keys:
        table.add_row(str(k.id), k.name, k.role, k.prefix, local(k.created_at), local(k.revoked_at))
    console.print(table)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: Annotated[int, typer.Argument(help="The key's id (see `apikeys list`).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key at once."""

    async def go(a: App) -> ApiKey:
        return await service.revoke_key(a.engine, key_id, now=a.clock.now())

    key = run_with_app(ctx, go)
    if as_json:
        print_json(key.as_json())
    else:
        console.print(f"API key {key.id} ({key.name}) revoked")
