"""The catalog in force when templates live in the database, kept fresh in every process.

    templates = DbCatalog(settings.paths.templates, "en", engine)
    await templates.open()          # the database set, if there is one; else the folder

Until the database holds a live set (the first save in the web console, or `notifier
templates import`), the folder `templates/` is in force exactly as with `LiveCatalog`
(and `reload()` re-reads it). Once it does, the database set wins and the folder is only
the shipped defaults.

Freshness without a restart and without a hook in the worker loop: reading `current` (as
every render does) starts, at most every `interval` seconds, a background check of one cheap
number, the largest live version id (`store.template_versions.live_marker`); only when it
changed is the live set read and compiled (`TemplateCatalog.from_sources`) and swapped in
with one assignment. A set that does not compile is refused and the last good one stays.
`refresh()` may also be awaited directly (the web console does after a save).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import TemplateError
from notifier.store.template_versions import live_marker, live_sources
from notifier.templating.catalog import LiveCatalog, TemplateCatalog

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
_UNAVAILABLE = (DBAPIError, OSError, TimeoutError)


class DbCatalog(LiveCatalog):
    def __init__(
        self,
        path: Path,
        default_locale: str,
        engine: AsyncEngine,
        *,
        interval: float = REFRESH_SECONDS,
    ) -> None:
        super().__init__(path, default_locale)
        self._engine = engine
        self._interval = interval
        self._marker = (0, 0)
        self._from_db = False
        self._next_check = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def from_database(self) -> bool:
        return self._from_db

    @property
    def current(self) -> TemplateCatalog:
        self._maybe_refresh()
        return self._current

    async def open(self) -> None:
        """The database set if there is one; a database that cannot answer (not migrated,
        down) leaves the folder in force, to be checked again later."""
        await self._refresh_quietly()

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_check or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # synchronous code: nothing to schedule on
            return
        self._next_check = now + self._interval
        self._task = loop.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except _UNAVAILABLE as exc:
            log.warning(
                "template versions not checked: %s",
                type(exc).__name__,
                extra={"action": "templates_check_failed"},
            )

    async def refresh(self, *, force: bool = False) -> bool:
        """Swap in the database's live set if it changed (or `force`). True if swapped."""
        self._next_check = time.monotonic() + self._interval
        async with self._engine.connect() as conn:
            marker = await live_marker(conn)
            if marker[1] == 0 or (marker == self._marker and not force):
                return False
            sources = await live_sources(conn)
        try:
            catalog = TemplateCatalog.from_sources(sources, self._default_locale)
        except TemplateError as exc:
            log.error(
                "live templates in the database refused: %s",
                exc,
                extra={"action": "templates_reload_failed"},
            )
            self._marker = marker
            return False
        self._current = catalog  # one assignment: renders in flight keep theirs
        self._from_db, self._marker = True, marker
        log.info(
            "templates loaded from the database: %d file(s)",
            len(sources),
            extra={"action": "templates_reloaded"},
        )
        return True

    def reload(self) -> list[str]:
        """The folder again while it is in force; with a database set, check it soon."""
        if self._from_db:
            self._next_check = 0.0
            return []
        return super().reload()

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
