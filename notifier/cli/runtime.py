"""What every command shares: loading settings, opening the app, printing, failing cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from notifier.cli.writable import check_database_folder
from notifier.config import Settings, load_settings
from notifier.durations import parse_relative_or_iso
from notifier.errors import ConfigError, InputError, NotifierError, Unavailable
from notifier.runtime.app import App
from notifier.services.database import brief, refused_login, unavailable, wait_for_database

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

    url = settings.database.url

    check_database_folder(url)

    async def go() -> T:
        if wait_for_db:
            await wait_for_database(url)
        async with database_errors(url):  # opening is connecting (and migrating)
            app = await App.open(settings)
        try:
            return await fn(app)
        except DBAPIError as exc:
            if not unavailable(exc):
                raise
            raise Unavailable(
                f"lost the database {_shown(url)} during the command, which may or may not "
                f"have taken effect: {brief(exc)}"
            ) from exc
        finally:
            await app.close()

    return run_loop(go())


@asynccontextmanager
async def database_errors(url: str) -> AsyncIterator[None]:
    """Turn the database's refusals within into one-line errors: a URL the server refuses
    (exit 2), a server that cannot be reached (exit 1). Only around work that is nothing
    but talking to the database, where an OSError can only be the connection's."""
    try:
        yield
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        error = _database_error(url, exc)
        if error is None:
            raise
        raise error from exc


def _database_error(url: str, exc: BaseException) -> NotifierError | None:
    if refused_login(exc):
        # The server's own words say what to mend ('database "x" does not exist').
        reason = brief(exc).partition(": ")[2]
        return ConfigError(f"database.url: {_shown(url)} refused the connection: {reason}")
    if unavailable(exc):
        return Unavailable(f"cannot reach the database {_shown(url)}: {brief(exc)}")
    return None


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


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


@contextlib.contextmanager
def file_progress(path: Path, *, header: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on the terminal (stderr) for an import of `path`: the callback takes
    the rows done so far. Nothing when stderr is not a terminal (scripts, --json pipes)."""
    bar_console = Console(stderr=True)
    try:
        lines = _count_lines(path) if bar_console.is_terminal else None
    except OSError:  # the import says what is wrong with the file, in one line
        lines = None
    if lines is None:
        yield None
        return
    total = max(lines - (1 if header else 0), 1)
    with Progress(
        TextColumn(path.name),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=bar_console,
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=total)
        yield lambda done: bar.update(task, completed=min(done, total))


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines
