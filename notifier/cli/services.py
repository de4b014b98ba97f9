"""`notifier services ...`: the services customers depend on, as the status page shows them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from notifier.cli.runtime import console, print_json, run_with_app
from notifier.domain.services import Service, ServiceView
from notifier.runtime.app import App
from notifier.services import service_catalog as catalog

app = typer.Typer(help="Services: the status page's components.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KeyArg = Annotated[str, typer.Argument(help="The service key incidents' --affects name.")]


def _print(service: Service, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(service.as_json())
        return
    override = f", shown as {service.override}" if service.override else ""
    console.print(f"service {service.key} {verb}: {service.name}{override}")


@app.command("add")
def add(
    ctx: typer.Context,
    key: KeyArg,
    name: Annotated[str, typer.Option("--name", help="As customers know it.")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Shown under this heading.")] = None,
    position: Annotated[int, typer.Option("--position", help="Display order.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Add a service."""

    async def go(app: App) -> Service:
        return await catalog.add(
            app.engine,
            key=key,
            name=name,
            description=description,
            group=group,
            position=position,
            now=app.clock.now(),
        )

    _print(run_with_app(ctx, go), as_json, "added")


@app.command("edit")
def edit(
    ctx: typer.Context,
    key: KeyArg,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description", help='"" clears it.')] = None,
    group: Annotated[str | None, typer.Option("--group", help='"" clears it.')] = None,
    position: Annotated[int | None, typer.Option("--position")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a service's name, description, group or position."""

    async def go(app: App) -> Service:
        return await catalog.edit(
            app.engine,
            key,
            name=name,
            description=description,
            group=group,
            position=position,
            now=app.clock.now(),
        )

    _print(run_with_app(ctx, go), as_json, "changed")


@app.command("override")
def override(
    ctx: typer.Context,
    key: KeyArg,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="operational, degraded_performance, partial_outage, major_outage or "
            "under_maintenance.",
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Back to the derived status.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a status whatever is open, or (--clear) go back to the derived one."""
    if (status is None) == (not clear):
        raise typer.BadParameter("give --status or --clear", param_hint="--status")

    async def go(app: App) -> Service:
        return await catalog.override(app.engine, key, status, now=app.clock.now())

    _print(run_with_app(ctx, go), as_json, "overridden" if status else "derived again")


@app.command("remove")
def remove(ctx: typer.Context, key: KeyArg) -> None:
    """Remove a service from the catalog (incidents that named it keep their text)."""

    async def go(app: App) -> None:
        await catalog.remove(app.engine, key)

    run_with_app(ctx, go)
    console.print(f"service {key} removed")


@app.command("list")
def list_services(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every service, in display order, with its status now."""

    async def go(app: App) -> list[ServiceView]:
        return await catalog.list_with_status(app.engine)

    found = run_with_app(ctx, go)
    if as_json:
        print_json({"services": [v.as_json() for v in found]})
        return
    table = Table("key", "name", "group", "status", "override")
    for v in found:
        s = v.service
        table.add_row(s.key, s.name, s.group or "", v.status, s.override or "")
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, key: KeyArg, as_json: JsonOpt = False) -> None:
    """One service and its status now."""

    async def go(app: App) -> ServiceView:
        return await catalog.show(app.engine, key)

    view = run_with_app(ctx, go)
    if as_json:
        print_json(view.as_json())
        return
    s = view.service
    console.print(f"service {s.key}: {s.name} [{view.status}]")
    if s.description:
        console.print(f"  {s.description}")
    if s.group:
        console.print(f"  group {s.group}, position {s.position}")
