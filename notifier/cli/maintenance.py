"""`notifier maintenance ...`: schedule planned maintenance, update, start, complete, cancel."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from notifier.cli.runtime import console, local, parse_when, print_json, run_with_app
from notifier.domain.maintenance import Maintenance
from notifier.runtime.app import App
from notifier.services import maintenance as service

app = typer.Typer(
    help="Planned maintenance: tell customers before, at the start, at the end.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
IdArg = Annotated[int, typer.Argument(help="The maintenance's id.")]
MessageOpt = Annotated[str | None, typer.Option("--message", help="A public message.")]


def _print(found: Maintenance, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(found.as_json())
        return
    console.print(
        f"maintenance {found.id} {verb}: {found.title} [{found.status}, "
        f"{local(found.starts_at)} to {local(found.ends_at)}, {', '.join(found.affects)}]"
    )


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    services: Annotated[
        list[str], typer.Option("--services", help="A service key (repeat, or comma-separate).")
    ],
    starts: Annotated[str, typer.Option("--starts", help="ISO-8601 with a zone, or +3d.")],
    ends: Annotated[str, typer.Option("--ends", help="ISO-8601 with a zone, or +3d2h.")],
    message: Annotated[str, typer.Option("--message", help="What customers should know.")],
    title: Annotated[str | None, typer.Option("--title")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Announce a maintenance window: notice 72 h and 1 h before, at the start, at the end."""

    async def go(app: App) -> Maintenance:
        now = app.clock.now()
        starts_at = parse_when("--starts", starts, now)
        ends_at = parse_when("--ends", ends, now)
        assert starts_at is not None and ends_at is not None
        keys = [k for value in services for k in value.split(",") if k.strip()]
        return await service.schedule(
            app.engine,
            services=keys,
            starts=starts_at,
            ends=ends_at,
            message=message,
            title=title,
            now=now,
        )

    _print(run_with_app(ctx, go), as_json, "scheduled")


@app.command("update")
def update(
    ctx: typer.Context,
    maintenance_id: IdArg,
    message: Annotated[str, typer.Option("--message", help="The public update.")],
    starts: Annotated[str | None, typer.Option("--starts", help="A new start.")] = None,
    ends: Annotated[str | None, typer.Option("--ends", help="A new end.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Post an update; a new window moves the notices and the overrun watch."""

    async def go(app: App) -> Maintenance:
        now = app.clock.now()
        return await service.update(
            app.engine,
            maintenance_id,
            message=message,
            starts=parse_when("--starts", starts, now),
            ends=parse_when("--ends", ends, now),
            now=now,
        )

    _print(run_with_app(ctx, go), as_json, "updated")


@app.command("start")
def start(ctx: typer.Context, maintenance_id: IdArg, as_json: JsonOpt = False) -> None:
    """Start now, before the announced start (on time, the scheduler starts it)."""

    async def go(app: App) -> Maintenance:
        return await service.start(app.engine, maintenance_id, now=app.clock.now())

    _print(run_with_app(ctx, go), as_json, "started")


@app.command("complete")
def complete(
    ctx: typer.Context, maintenance_id: IdArg, message: MessageOpt = None, as_json: JsonOpt = False
) -> None:
    """It is over: customers are told."""

    async def go(app: App) -> Maintenance:
        return await service.complete(
            app.engine, maintenance_id, message=message, now=app.clock.now()
        )

    _print(run_with_app(ctx, go), as_json, "completed")


@app.command("cancel")
def cancel(
    ctx: typer.Context, maintenance_id: IdArg, message: MessageOpt = None, as_json: JsonOpt = False
) -> None:
    """Call it off before it starts: customers are told, the notices dropped."""

    async def go(app: App) -> Maintenance:
        return await service.cancel(
            app.engine, maintenance_id, message=message, now=app.clock.now()
        )

    _print(run_with_app(ctx, go), as_json, "cancelled")


@app.command("show")
def show(ctx: typer.Context, maintenance_id: IdArg, as_json: JsonOpt = False) -> None:
    """A maintenance with its public updates."""

    async def go(app: App) -> service.MaintenanceView:
        return await service.show(app.engine, maintenance_id)

    view = run_with_app(ctx, go)
    if as_json:
        print_json(view.as_json())
        return
    _print(view.maintenance, False, "is")
    for u in view.updates:
        console.print(f"  {local(u.created_at)} {u.status}: {u.message or ''}")


@app.command("list")
def list_maintenance(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Scheduled or in progress.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Maintenance windows, latest start first."""

    async def go(app: App) -> list[Maintenance]:
        return await service.list_all(app.engine, open_only=open_only)

    found = run_with_app(ctx, go)
    if as_json:
        print_json({"maintenance": [m.as_json() for m in found]})
        return
    table = Table("id", "title", "status", "starts", "ends", "services")
    for m in found:
        table.add_row(
            str(m.id), m.title, m.status, local(m.starts_at), local(m.ends_at), ", ".join(m.affects)
        )
    console.print(table)
