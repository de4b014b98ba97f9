"""Turn a shop database's order changes into order events, each exactly once.

Each row past the mark goes through `record_order_event` (its own transaction), and only
then does the mark move past it (another transaction). A crash between the two replays
that one row at the next start, and the service ignores it: it repeats the order's state.
A restart resumes from the stored mark, so old changes are never told again as new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.clock import Clock, SystemClock
from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.services.orders import record_order_event
from notifier.source_settings import SourceSettings
from notifier.sources.reader import SourceReader, SourceRow, SourceUnavailable, reason
from notifier.store import source_marks

log = logging.getLogger(__name__)

# Backoff after failures: interval * 2^n, up to this (or the interval, if that is longer).
MAX_BACKOFF = 300.0


@dataclass(slots=True)
class WatcherStats:
    recorded: int = 0  # rows that became an event
    ignored: int = 0  # rows that repeated the order's state (resends, a replayed last row)
    skipped: int = 0  # rows refused (illegal transition, unknown customer, bad value)


class SourceWatcher:
    def __init__(
        self, settings: SourceSettings, engine: AsyncEngine, *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.stats = WatcherStats()
        self._engine = engine
        self._clock = clock or SystemClock()
        self._reader = SourceReader(settings)
        self._mark: list[Any] | None = None
        self._mark_loaded = False

    async def poll_once(self) -> int:
        """Read every row past the mark, in mark order; return how many were read.

        Raises SourceUnavailable when the source cannot be read; rows handled before that
        keep their events and the mark stays after the last of them.
        """
        mark = await self._load_mark()
        count = 0
        while True:
            rows = await self._reader.rows_after(mark, self.settings.batch_size)
            for row in rows:
                await self._handle(row)
                await self._save_mark(row.mark)
                mark = row.mark
                count += 1
            if len(rows) < self.settings.batch_size:
                return count

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `interval` seconds until `stop` is set.

        A failure (the source or notifier's own database unreachable) is logged in one
        line and retried with backoff, from the mark: nothing is lost or told twice.
        """
        failures = 0
        while not stop.is_set():
            problem: str | None = None
            try:
                await self.poll_once()
            except SourceUnavailable as exc:
                problem = str(exc)
            except (OSError, SQLAlchemyError) as exc:
                problem = f"source {self.name!r}: notifier's database: {reason(exc)}"
            else:
                if failures:
                    log.warning(
                        "source %r is readable again after %d failed polls",
                        self.name,
                        failures,
                        extra={"action": "source_recovered", "source": self.name},
                    )
                failures = 0
            interval = self.settings.interval
            delay = interval
            if problem is not None:
                failures += 1
                delay = min(interval * 2**failures, max(interval, MAX_BACKOFF))
                log.warning(
                    "%s; retrying in %.3gs",
                    problem,
                    delay,
                    extra={"action": "source_unavailable", "source": self.name},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def close(self) -> None:
        await self._reader.close()

    async def _load_mark(self) -> list[Any] | None:
        if self._mark_loaded:
            return self._mark
        async with self._engine.connect() as conn:
            stored = await source_marks.get_mark(conn, self.name)
        if stored is not None:
            self._mark = stored.values
        else:
            # First poll ever: with start = "now", the source's past stays untold. The mark
            # is stored even when the source is empty, so that a restart does not take
            # "now" again and skip what arrived meanwhile.
            first = await self._reader.last_mark() if self.settings.start == "now" else None
            await self._save_mark(first)
        self._mark_loaded = True
        return self._mark

    async def _save_mark(self, values: list[Any] | None) -> None:
        async with self._engine.begin() as conn:
            await source_marks.save_mark(conn, self.name, values, self._clock.now())
        self._mark = values

    async def _handle(self, row: SourceRow) -> None:
        values = row.values
        status = _text(values.get("status"))
        if status is not None:
            mapped = self.settings.statuses.get(status)
            status = mapped.value if mapped is not None else status
        order_id = _text(values.get("id")) or ""
        try:
            result = await record_order_event(
                self._engine,
                order_id,
                status=status or "",
                customer_id=_text(values.get("customer")),
                promised_date=_day(values.get("promised_date")),
                carrier=_text(values.get("carrier")),
                tracking=_text(values.get("tracking")),
                now=self._clock.now(),
                source=self.name,
            )
        except (InputError, NotFound, InvalidTransition) as exc:
            # A row the service refuses would be refused again on every poll: skipping it
            # (and moving the mark) is the only way the rows after it are ever read.
            self.stats.skipped += 1
            log.warning(
                "source %r: row of order %r skipped: %s",
                self.name,
                order_id,
                exc,
                extra={"action": "source_row_skipped", "source": self.name},
            )
            return
        if result.ignored:
            self.stats.ignored += 1
        else:
            self.stats.recorded += 1


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _day(value: Any) -> date | str | None:
    """A promised date as the service takes it; a timestamp column counts by its day."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and len(value.strip()) > 10:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.strip()).date()
    return value if isinstance(value, date | str) else _text(value)
