"""What every command shares: loading settings, opening the app, printing, failing cleanly."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from notifier.app import App
from notifier.config import Settings, load_settings
from notifier.engine.durations import parse_relative_or_iso
from notifier.errors import InputError
from notifier.store.db import wait_for_database

T = TypeVar("T")

# No markup: what we print is mostly people's text (titles, names, reasons), and rich would
# take "[shipped, ...]" for a tag and drop it, or stop at "[/x]" with a traceback. Emphasis
# is a style (`style=` or `Text`), never a tag in the string.
console = Console(highlight=False, soft_wrap=True, markup=False)


@dataclass
class CliState:
    config: Path | None = None
    settings: Settings | None = None

    def load(self) -> Settings:
        if self.settings is None:
            self.settings = load_settings(self.config)
        return self.settings


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def run_with_app(
    ctx: typer.Context, fn: Callable[[App], Awaitable[T]], *, wait_for_db: bool = False
) -> T:
    """Open the app, run `fn`, close. With `wait_for_db` (the worker), a database that is
    down at start is waited for instead of failing the command."""
    settings = state(ctx).load()

    async def go() -> T:
        if wait_for_db:
            await wait_for_database(settings.database.url)
        app = await App.open(settings)
        try:
            return await fn(app)
        finally:
            await app.close()

    return run_loop(go())


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to the end on uvloop's event loop, or asyncio's where uvloop is missing.

    uvloop schedules callbacks and handles sockets in C: the server, the worker's lanes
    and the database driver all cost less CPU per request, message and statement.
    """
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_json_default, ensure_ascii=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def parse_when(option: str, text: str | None, now: datetime) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_relative_or_iso(text, now)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def local(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%SZ") if dt else "-"
