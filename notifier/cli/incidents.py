"""`notifier incident ...`: declare (or forecast), update, resolve, show, list, report, watch."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from notifier.cli.locale_texts import HELP as LOCALE_HELP
from notifier.cli.locale_texts import locale_texts
from notifier.cli.runtime import console, local, parse_when, print_json, run_with_app
from notifier.domain.incidents import Incident
from notifier.runtime.app import App
from notifier.services import incidents as service
from notifier.services.dry_run import DryRun, declare_dry_run
from notifier.services.progress import ChannelProgress, incident_progress
from notifier.services.report import incident_report

app = typer.Typer(help="Outages: declare, update, resolve.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
EtaOpt = Annotated[
    str | None,
    typer.Option("--eta", help="When service should be back: ISO-8601, or +DURATION (+18h)."),
]
NextUpdateOpt = Annotated[
    str | None,
    typer.Option(
        "--next-update",
        help="Promise the next update by then (ISO-8601 or +2h); if none comes, customers get "
        "a holding message and operations an alert.",
    ),
]


# Unknown options reach the command as extra arguments: `locale_texts` reads the
# `--message-fr`-style ones and refuses the rest.
WITH_LOCALES = {"allow_extra_args": True, "ignore_unknown_options": True}


def _print(incident: Incident, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(incident.as_json())
        return
    eta = f", ETA {local(incident.eta)}" if incident.eta else ""
    console.print(
        f"incident {incident.id} {verb}: {incident.title} "
        f"[{incident.severity}, {incident.status}{eta}]"
    )


@app.command("declare", context_settings=WITH_LOCALES, epilog=LOCALE_HELP)
def declare(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="What is broken, in customers' words.")],
    affects: Annotated[
        list[str], typer.Option("--affects", help="An affected service key (repeat for more).")
    ],
    severity: Annotated[str, typer.Option("--severity", help="minor, major or critical.")],
    eta: EtaOpt = None,
    workaround: Annotated[str | None, typer.Option("--workaround")] = None,
    message: Annotated[str | None, typer.Option("--message", help="First public message.")] = None,
    next_update: NextUpdateOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count who would be told, and how; declare nothing."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Declare an outage: every affected customer is told, per the rules."""

    translations = locale_texts(ctx.args, ("message", "workaround"))

    async def go(app: App) -> Incident | DryRun:
        now = app.clock.now()
        fields: dict[str, Any] = {
            "translations": translations,
            "title": title,
            "severity": severity,
            "affects": affects,
            "eta": parse_when("--eta", eta, now),
            "workaround": workaround,
            "message": message,
            "next_update_by": parse_when("--next-update", next_update, now),
            "now": now,
        }
        if dry_run:
            return await declare_dry_run(app, **fields)
        return await service.declare(app.engine, **fields)

    result = run_with_app(ctx, go)
    if isinstance(result, DryRun):
        _print_dry_run(result, as_json)
    else:
        _print(result, as_json, "declared")


def _print_dry_run(result: DryRun, as_json: bool) -> None:
    if as_json:
        print_json({"dry_run": True, **result.as_json()})
        return
    console.print(f"dry run: nothing declared, nothing sent. {result.affected} customers affected")
    console.print(f"  rules: {', '.join(result.rules) or 'none'}")
    for name, forecast in result.channels.items():
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(forecast.suppressed.items()))
        suppressed = sum(forecast.suppressed.values())
        console.print(
            f"  {name}: {forecast.send} to send, {suppressed} suppressed"
            + (f" ({reasons})" if reasons else "")
        )
    for forecast in result.channels.values():
        if forecast.timing is not None and forecast.timing.messages:
            console.print(f"  {forecast.timing.summary()}", markup=False)
            for warning in forecast.timing.warnings:
                console.print(f"  warning: {warning}", markup=False)
    if result.operations:
        console.print(f"  operations: {result.operations} messages")
    for warning in result.warnings:
        console.print(f"  warning: {warning}", markup=False)


@app.command("update", context_settings=WITH_LOCALES, epilog=LOCALE_HELP)
def update(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    message: Annotated[str, typer.Option("--message", help="The public update.")],
    status: Annotated[
        str | None, typer.Option("--status", help="investigating, identified or monitoring.")
    ] = None,
    eta: EtaOpt = None,
    workaround: Annotated[str | None, typer.Option("--workaround")] = None,
    next_update: NextUpdateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post an update: a new status, a new ETA, a workaround."""

    translations = locale_texts(ctx.args, ("message", "workaround"))

    async def go(app: App) -> Incident:
        now = app.clock.now()
        return await service.update(
            app.engine,
            incident_id,
            translations=translations,
            status=status,
            eta=parse_when("--eta", eta, now),
            workaround=workaround,
            message=message,
            next_update_by=parse_when("--next-update", next_update, now),
            now=now,
        )

    _print(run_with_app(ctx, go), as_json, "updated")


@app.command("resolve", context_settings=WITH_LOCALES, epilog=LOCALE_HELP)
def resolve(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    cause: Annotated[str, typer.Option("--cause", help="What went wrong, in plain words.")],
    message: Annotated[
        str | None, typer.Option("--message", help="Closing message, e.g. a practical tip.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve: customers are told it is fixed, why it broke, and what to do now."""

    translations = locale_texts(ctx.args, ("cause", "message"))

    async def go(app: App) -> Incident:
        return await service.resolve(
            app.engine,
            incident_id,
            cause=cause,
            message=message,
            translations=translations,
            now=app.clock.now(),
        )

    _print(run_with_app(ctx, go), as_json, "resolved")


@app.command("show")
def show(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    as_json: JsonOpt = False,
) -> None:
    """An incident with every public update."""

    async def go(app: App) -> service.IncidentView:
        return await service.show(app.engine, incident_id)

    view = run_with_app(ctx, go)
    if as_json:
        print_json(view.as_json())
        return
    i = view.incident
    console.print(Text.assemble((f"incident {i.id}", "bold"), f": {i.title}"))
    console.print(f"  severity {i.severity}, status {i.status}, affects {', '.join(i.affects)}")
    console.print(f"  declared {local(i.declared_at)}, ETA {local(i.eta)}")
    if i.workaround:
        console.print(f"  workaround: {i.workaround}")
    if i.cause:
        console.print(f"  cause: {i.cause} (resolved {local(i.resolved_at)})")
    table = Table("time", "status", "message", "ETA")
    for u in view.updates:
        table.add_row(local(u.created_at), u.status, u.message or "", local(u.eta))
    console.print(table)


@app.command("list")
def list_incidents(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only unresolved incidents.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Recent incidents, newest first."""

    async def go(app: App) -> list[Incident]:
        return await service.list_all(app.engine, open_only=open_only)

    found = run_with_app(ctx, go)
    if as_json:
        print_json({"incidents": [i.as_json() for i in found]})
        return
    table = Table("id", "title", "severity", "status", "ETA", "declared")
    for i in found:
        table.add_row(str(i.id), i.title, i.severity, i.status, local(i.eta), local(i.declared_at))
    console.print(table)


@app.command("report")
def report(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Who was affected, what was sent and became of it, how fast, and how many who
    contacted support had already been told."""

    async def go(app: App) -> dict[str, Any]:
        return await incident_report(app.engine, incident_id, now=app.clock.now())

    data = run_with_app(ctx, go)
    if as_json:
        print_json(data)
        return
    i = data["incident"]
    console.print(
        Text.assemble(
            (f"incident {i['id']}", "bold"), f": {i['title']} [{i['severity']}, {i['status']}]"
        )
    )
    console.print(f"  affected customers: {data['affected']}")
    table = Table("channel", "planned", "sent", "delivered", "failed", "suppressed", "waiting")
    for name, c in data["channels"].items():
        numbers = (c["planned"], c["sent"], c["delivered"], c["failed"], c["suppressed"])
        table.add_row(name, *map(str, numbers), str(c["waiting"]))
    console.print(table)
    for name, c in data["channels"].items():
        for kind in ("suppressed", "failed"):
            for why, n in c[f"{kind}_by_reason"].items():
                console.print(f"  {name} {kind}: {n} {why}")
    first = data["first_message"]
    times = ", ".join(f"{p}% in {_duration(first[f'p{p}_seconds'])}" for p in (50, 95, 100))
    console.print(f"  first message to {first['customers_told']} customers: {times}")
    contacts = data["contacts"]
    percent = contacts["told_before_percent"]
    console.print(
        f"  contacted us: {contacts['customers_who_contacted']}; told before they called: "
        f"{contacts['told_before_they_called']}" + (f" ({percent}%)" if percent is not None else "")
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@app.command("watch")
def watch(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    interval: Annotated[
        float, typer.Option("--interval", min=0.2, max=60, help="Seconds between looks.")
    ] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Show the progress once and exit.")] = False,
) -> None:
    """A progress bar per channel: handed over of planned, and when what still waits will
    have gone at the channel's capacity. Ends when nothing waits (or on Ctrl-C)."""

    async def go(app: App) -> None:
        await service.show(app.engine, incident_id)  # an unknown id: one line, exit 2
        columns = (
            TextColumn("{task.description:<6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[eta]}"),
        )
        with Progress(*columns, console=console, auto_refresh=False) as bars:
            tasks: dict[str, TaskID] = {}
            while True:
                progress = await incident_progress(app, incident_id)
                for name, p in progress.items():
                    if name not in tasks:
                        tasks[name] = bars.add_task(name, total=max(p.planned, 1), eta="")
                    bars.update(
                        tasks[name],
                        total=max(p.planned, 1),
                        completed=p.handed_over if p.planned else 1,
                        eta=_eta_text(p),
                    )
                bars.refresh()
                if once or all(p.waiting == 0 for p in progress.values()):
                    return
                await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        run_with_app(ctx, go)


def _eta_text(p: ChannelProgress) -> str:
    if p.planned == 0:
        return "nothing to send"
    if p.waiting == 0:
        return "all handed over"
    if p.done_by is None:
        return f"{p.waiting} waiting, not paced"
    return f"{p.waiting} waiting, all by {p.done_by:%H:%M:%S} UTC at {p.rate:g}/s"
