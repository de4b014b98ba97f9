"""`notifier customers ...`: import and look up customers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifier.cli.runtime import console, file_progress, print_json, run_with_app, state
from notifier.runtime.app import App
from notifier.services import customer_records
from notifier.services.customers import ImportReport, import_customers

app = typer.Typer(help="Customers: import and look up.", no_args_is_help=True)


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Import customers; bad rows are reported with their line, good rows are kept."""
    settings = state(ctx).load()

    async def go(app: App) -> ImportReport:
        with file_progress(file, header=file.suffix.lower() == ".csv") as progress:
            return await import_customers(
                app.engine,
                file,
                default_region=settings.sms.default_region,
                default_locale=settings.default_locale,
                default_timezone=settings.default_timezone,
                now=app.clock.now(),
                progress=progress,
            )

    report = run_with_app(ctx, go)
    if as_json:
        print_json(
            {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "errors": [{"line": e.line, "reason": e.reason} for e in report.errors],
            }
        )
    else:
        console.print(
            f"{file}: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged, {len(report.errors)} rejected"
        )
        for error in report.errors:
            console.print(f"  {file}:{error.line}: {error.reason}", style="red")
    if report.errors:
        raise typer.Exit(2)


@app.command("show")
def show(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One customer, with services and opt-outs."""

    async def go(app: App) -> dict[str, object]:
        c = await customer_records.customer(app.engine, customer_id)
        data = c.as_context()
        data["services"] = sorted(c.services)
        data["opt_outs"] = sorted(c.opt_outs)
        return data

    data = run_with_app(ctx, go)
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")
