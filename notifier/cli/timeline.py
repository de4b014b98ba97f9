"""`notifier timeline CUSTOMER_ID`: everything we told one customer, and when."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from notifier.cli.runtime import console, local, print_json, run_with_app
from notifier.runtime.app import App
from notifier.services.timeline import customer_timeline


def timeline(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Every message planned for a customer: time, channel, template, status, reason."""

    async def go(app: App) -> dict[str, Any]:
        return await customer_timeline(app.engine, customer_id)

    data = run_with_app(ctx, go)
    if as_json:
        print_json(data)
        return
    console.print(Text.assemble((data["customer"]["name"], "bold"), f" ({customer_id})"))
    table = Table("time", "channel", "template", "status", "to", "subject / first line", "reason")
    for entry in data["entries"]:
        table.add_row(
            local(entry["time"]),
            entry["channel"],
            entry["template"],
            entry["status"],
            entry["recipient"] or "-",
            entry["summary"],
            entry["reason"] or "",
        )
    console.print(table)
