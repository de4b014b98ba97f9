"""`notifier order ...` (one order) and `notifier orders ...` (files and lists)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from notifier.cli.runtime import console, file_progress, local, print_json, run_with_app
from notifier.domain.orders import Order, OrderStatus
from notifier.runtime.app import App
from notifier.services import orders as service

order_app = typer.Typer(
    help="One order: record what happened to it, show it.", no_args_is_help=True
)
orders_app = typer.Typer(help="Orders: import events from a file, list.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
_STATUSES = ", ".join(s.value for s in OrderStatus)


def _summary(order: Order) -> str:
    promised = f", promised {order.promised_date.isoformat()}" if order.promised_date else ""
    parcel = f", {order.carrier} {order.tracking or ''}".rstrip() if order.carrier else ""
    return f"order {order.id} ({order.status}{promised}{parcel}), customer {order.customer_id}"


@order_app.command("event")
def event(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The shop's order id.")],
    status: Annotated[str, typer.Option("--status", help=f"The new status: {_STATUSES}.")],
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="The customer's id (required for a new order)."),
    ] = None,
    promised_date: Annotated[
        str | None,
        typer.Option("--promised-date", help="The promised delivery day, YYYY-MM-DD."),
    ] = None,
    carrier: Annotated[str | None, typer.Option("--carrier")] = None,
    tracking: Annotated[str | None, typer.Option("--tracking")] = None,
    note: Annotated[str | None, typer.Option("--note", help="What happened, in words.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a change of an order; a repeat of its present state is ignored."""

    async def go(app: App) -> service.OrderEventResult:
        return await service.record_order_event(
            app.engine,
            order_id,
            status=status,
            customer_id=customer,
            promised_date=promised_date,
            carrier=carrier,
            tracking=tracking,
            note=note,
            now=app.clock.now(),
        )

    result = run_with_app(ctx, go)
    if as_json:
        print_json(result.as_json())
    elif result.ignored:
        console.print(f"{_summary(result.order)}: nothing new, ignored")
    else:
        console.print(f"{_summary(result.order)}: recorded as event {result.event_id}")


@order_app.command("show")
def show(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The shop's order id.")],
    as_json: JsonOpt = False,
) -> None:
    """An order with every change recorded."""

    async def go(app: App) -> service.OrderView:
        return await service.get_order(app.engine, order_id)

    view = run_with_app(ctx, go)
    if as_json:
        print_json(view.as_json())
        return
    console.print(_summary(view.order), style="bold")
    if view.order.promised_by:
        console.print(f"  late after {local(view.order.promised_by)}")
    table = Table("time", "status", "promised", "carrier", "tracking", "note", "source")
    for h in view.history:
        table.add_row(
            local(h.occurred_at),
            h.status,
            h.promised_date.isoformat() if h.promised_date else "-",
            h.carrier or "-",
            h.tracking or "-",
            h.note or "",
            h.source,
        )
    console.print(table)


@orders_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv or .jsonl file of order events.")],
    as_json: JsonOpt = False,
) -> None:
    """Record order events from a file; bad lines are reported, good ones kept (exit 2)."""

    async def go(app: App) -> service.OrderImportReport:
        with file_progress(file, header=file.suffix.lower() == ".csv") as progress:
            return await service.import_order_events(
                app.engine, file, now=app.clock.now(), progress=progress
            )

    report = run_with_app(ctx, go)
    if as_json:
        print_json(
            {
                "recorded": report.recorded,
                "ignored": report.ignored,
                "errors": [{"line": e.line, "reason": e.reason} for e in report.errors],
            }
        )
    else:
        console.print(
            f"{file}: {report.recorded} recorded, {report.ignored} ignored (nothing new), "
            f"{len(report.errors)} rejected"
        )
        for error in report.errors:
            console.print(f"  {file}:{error.line}: {error.reason}", style="red")
    if report.errors:
        raise typer.Exit(2)


@orders_app.command("list")
def list_command(
    ctx: typer.Context,
    customer: Annotated[
        str | None, typer.Option("--customer", help="Only this customer's.")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only orders not yet closed.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Recently changed orders, newest first."""

    async def go(app: App) -> list[Order]:
        return await service.list_orders(app.engine, customer_id=customer, open_only=open_only)

    found = run_with_app(ctx, go)
    if as_json:
        print_json({"orders": [o.as_json() for o in found]})
        return
    table = Table("order", "customer", "status", "promised", "carrier", "tracking", "updated")
    for o in found:
        table.add_row(
            o.id,
            o.customer_id,
            o.status,
            o.promised_date.isoformat() if o.promised_date else "-",
            o.carrier or "-",
            o.tracking or "-",
            local(o.updated_at),
        )
    console.print(table)
