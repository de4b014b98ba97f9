"""The status page's snapshot in memory, refreshed when something changes.

A request takes the snapshot as it is and never waits for the database, except for the
very first one. At most once per `interval` seconds a request also starts (in the
background, one at a time) a check of `change_mark`: two small aggregate queries; only if
the mark moved, or the day turned, is the snapshot rebuilt. So however many visitors
arrive during a fan-out, the page costs the database a handful of queries a minute, and
a change shows within about `interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Annotated

from fastapi import Depends, Request

from notifier.runtime.app import App
from notifier.services.status_page import StatusSnapshot, build_snapshot, change_mark

log = logging.getLogger(__name__)


class StatusCache:
    def __init__(self, app: App, *, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._snapshot: StatusSnapshot | None = None
        self._checked = 0.0
        self._version = 0
        self._first = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def current(self) -> StatusSnapshot:
        snapshot = self.ready()
        if snapshot is None:
            async with self._first:
                if self._snapshot is None:
                    self._snapshot = await self._build()
                    self._checked = time.monotonic()
            assert self._snapshot is not None
            return self._snapshot
        return snapshot

    def ready(self) -> StatusSnapshot | None:
        """The snapshot, if one was built (None before the first request built it); starts
        the background check when one is due. Never waits."""
        snapshot = self._snapshot
        if (
            snapshot is not None
            and time.monotonic() - self._checked >= self.interval
            and self._task is None
        ):
            self._checked = time.monotonic()
            self._task = asyncio.create_task(self._refresh())
        return snapshot

    async def refresh_now(self) -> StatusSnapshot:
        """Rebuild at once (after a change made in this process, and in tests)."""
        self._snapshot = await self._build()
        self._checked = time.monotonic()
        return self._snapshot

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _refresh(self) -> None:
        try:
            current = self._snapshot
            mark = await change_mark(self.app.engine)
            today = self.app.clock.now().date()
            if current is None or mark != current.mark or today != current.built_at.date():
                self._snapshot = await self._build()
        except Exception:
            # The page keeps showing the last snapshot; the next request tries again.
            log.exception("status page refresh failed", extra={"action": "status_refresh"})
        finally:
            self._checked = time.monotonic()
            self._task = None

    async def _build(self) -> StatusSnapshot:
        self._version += 1
        return await build_snapshot(
            self.app.engine,
            now=self.app.clock.now(),
            company=self.app.settings.company.name,
            version=self._version,
            default_locale=self.app.settings.default_locale,
        )


async def get_status_cache(request: Request) -> StatusCache:
    cache: StatusCache = request.app.state.status_cache
    return cache


StatusCacheDep = Annotated[StatusCache, Depends(get_status_cache)]
