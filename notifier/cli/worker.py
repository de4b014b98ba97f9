"""`notifier worker`: plan and send, until stopped or until idle."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from notifier.cli.runtime import console, run_with_app
from notifier.runtime.app import App
from notifier.runtime.worker import Worker


def worker(
    ctx: typer.Context,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Send everything that is due, then exit."),
    ] = False,
    max_wait: Annotated[
        float,
        typer.Option("--max-wait", help="With --until-idle: wait this long for due retries (s)."),
    ] = 600.0,
) -> None:
    """Run the worker: apply rules to new events and send what is due."""

    async def go(app: App) -> Worker:
        w = Worker(app)
        if until_idle:
            await w.run_until_idle(max_wait=max_wait)
            return w
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # SIGHUP: re-read rules and templates without a restart; broken files are refused.
        loop.add_signal_handler(signal.SIGHUP, app.reload)
        console.print(f"worker {w.id} running; Ctrl-C to stop, SIGHUP to reload rules/templates")
        await w.run(stop)
        return w

    # Started while the database is down (a restart of both at once), it waits for it.
    w = run_with_app(ctx, go, wait_for_db=True)
    s = w.stats
    console.print(
        f"worker {w.id}: {s.events} events planned, {s.planned} messages queued, "
        f"{s.suppressed} suppressed, {s.failed} failed at planning"
    )
