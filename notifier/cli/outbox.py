"""`notifier outbox retry`: send failed messages again, by incident, channel and reason."""

from __future__ import annotations

from typing import Annotated

import typer

from notifier.cli.runtime import console, print_json, run_with_app
from notifier.runtime.app import App
from notifier.services.outbox_retry import RetryResult, make_filter, retry

app = typer.Typer(help="The outbox: messages waiting, sent and failed.", no_args_is_help=True)


@app.command("retry")
def retry_command(
    ctx: typer.Context,
    incident: Annotated[
        int | None, typer.Option("--incident", help="Only messages about this incident.")
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only this channel (email, sms).")
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Only failures whose reason or code has these words."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be retried; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Send failed messages again. Each keeps its idempotency key: a message already sent
    is never sent again, and a retried one goes at most once more."""
    selection = make_filter(incident_id=incident, channel=channel, reason=reason)

    async def go(app: App) -> RetryResult:
        return await retry(app.engine, selection, now=app.clock.now(), dry_run=dry_run)

    result = run_with_app(ctx, go)
    if as_json:
        print_json(result.as_dict())
        return
    if dry_run:
        console.print(f"{result.matched} failed messages match; nothing changed (--dry-run)")
    else:
        console.print(
            f"{result.retried} failed messages will be sent again by the worker"
            + (f" (of {result.matched} matching)" if result.matched != result.retried else "")
        )
