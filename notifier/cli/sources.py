"""`notifier sources poll`: watch the shop databases of `[[sources]]` for order changes."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from notifier.cli.runtime import console, print_json, run_with_app
from notifier.errors import InputError
from notifier.runtime.app import App
from notifier.sources.reader import SourceUnavailable
from notifier.sources.watcher import SourceWatcher

app = typer.Typer(help="Shop databases watched for order changes.", no_args_is_help=True)


@app.command("poll")
def poll(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Read what changed since the last poll, then exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --once: one JSON object.")] = False,
) -> None:
    """Turn new and changed rows of each source into order events (Ctrl-C to stop)."""

    async def go(app: App) -> list[tuple[SourceWatcher, int | SourceUnavailable]]:
        if not app.settings.sources:
            raise InputError("no sources: add a [[sources]] table to the config file")
        watchers = [SourceWatcher(s, app.engine, clock=app.clock) for s in app.settings.sources]
        try:
            if once:
                return [(w, await _poll_once(w)) for w in watchers]
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            names = ", ".join(w.name for w in watchers)
            console.print(f"watching {names}; Ctrl-C to stop")
            await asyncio.gather(*(w.run(stop) for w in watchers))
            return [(w, 0) for w in watchers]
        finally:
            for w in watchers:
                await w.close()

    results = run_with_app(ctx, go)
    if as_json:
        print_json(
            {
                "sources": [
                    {
                        "name": w.name,
                        "read": outcome if isinstance(outcome, int) else None,
                        "recorded": w.stats.recorded,
                        "ignored": w.stats.ignored,
                        "skipped": w.stats.skipped,
                        "error": str(outcome) if isinstance(outcome, Exception) else None,
                    }
                    for w, outcome in results
                ]
            }
        )
    else:
        for w, outcome in results:
            read = f"{outcome} rows read, " if isinstance(outcome, int) else ""
            console.print(
                f"source {w.name}: {read}{w.stats.recorded} events recorded, "
                f"{w.stats.ignored} ignored (nothing new), {w.stats.skipped} skipped"
            )
    # Each source was tried, and the others' rows are kept; the first failure is the error.
    for _, outcome in results:
        if isinstance(outcome, SourceUnavailable):
            raise outcome


async def _poll_once(watcher: SourceWatcher) -> int | SourceUnavailable:
    try:
        return await watcher.poll_once()
    except SourceUnavailable as exc:
        return exc
