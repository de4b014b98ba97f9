"""Telling idle workers that there is work: `announce_work` in the transaction that adds
it, `WorkWatcher` in a worker waiting for it (LISTEN/NOTIFY on PostgreSQL, the file's
`data_version` on SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, Self

import aiosqlite
import asyncpg  # type: ignore[import-untyped]  # no type information shipped
from sqlalchemy import Select, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.store import sqlite_inline
from notifier.store.db import is_postgresql

log = logging.getLogger(__name__)

_LISTEN_CHECK = 30.0  # seconds between checks that the LISTEN connection is alive

# The PostgreSQL channel every worker LISTENs on. The payload says what kind of work
# arrived (one of the topics below), so that a worker wakes only the part that cares.
WORK_CHANNEL = "notifier_work"
TOPIC_EVENTS = "events"  # an event to plan (incident declared, updated, ...)
TOPIC_OUTBOX = "outbox"  # messages to send
TOPIC_SCHEDULES = "schedules"  # schedules were armed, cancelled or moved
TOPICS = frozenset({TOPIC_EVENTS, TOPIC_OUTBOX, TOPIC_SCHEDULES})


async def announce_work(conn: AsyncConnection, *topics: str) -> None:
    """Wake idle workers when the caller's transaction commits (one statement for all of
    `topics`).

    On PostgreSQL a `pg_notify` in the same transaction: it is delivered at commit and
    dropped on rollback, so a worker never wakes for work it cannot see yet (and repeated
    notifications of one topic in one transaction are delivered once). On SQLite nothing
    is sent: a `WorkWatcher` notices new events in the file by itself, and the one worker
    process there wakes its own dispatcher when it plans messages.
    """
    unknown = set(topics) - TOPICS
    if unknown or not topics:
        raise ValueError(f"unknown work topic(s) {sorted(unknown)!r}")
    if conn.dialect.name == "postgresql":
        await conn.execute(_notify(topics))


@functools.cache
def _notify(topics: tuple[str, ...]) -> Select[Any]:
    # Built once per set of topics: every recorded and every planned event sends one.
    return select(*(func.pg_notify(WORK_CHANNEL, topic) for topic in topics))


OnWork = Callable[[str | None], None]  # called with the topic, or None for "anything"


class WorkWatcher:
    """Calls `on_work(topic)` soon after another connection commits new work.

    PostgreSQL: LISTEN on a connection of its own (taken from the engine's pool and
    discarded afterwards, as it carries the LISTEN). A lost connection is replaced, and
    `on_work(None)` reports that anything may have been missed meanwhile.
    SQLite: a private connection reads `PRAGMA data_version` every `interval` seconds (the
    value changes whenever another connection, in any process, commits to the database),
    and reports `TOPIC_EVENTS` when the newest event changed.

    Either way the worker's poll interval stays as the safety net.
    """

    def __init__(self, engine: AsyncEngine, on_work: OnWork, *, interval: float = 0.05) -> None:
        self._engine = engine
        self._on_work = on_work
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Self:
        watch = self._listen if is_postgresql(self._engine) else self._poll_data_version
        self._task = asyncio.create_task(watch(), name="notifier-work-watcher")
        # Ready once the first LISTEN (or first read) is in place. A database that cannot
        # be reached yet leaves the worker on its poll interval rather than failing here.
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait([self._task, ready], timeout=5.0, return_when="FIRST_COMPLETED")
        finally:
            ready.cancel()
        if self._task.done():
            self._task.result()  # a bug, not a connection problem: let it surface
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def _listen(self) -> None:
        while True:
            try:
                conn = await self._engine.connect()
            except (OSError, SQLAlchemyError) as exc:
                log.warning("cannot LISTEN for work: %s", exc, extra={"action": "listen_failed"})
                await asyncio.sleep(1.0)
                continue
            try:
                await self._listen_on(conn)
            except (OSError, TimeoutError, SQLAlchemyError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN connection lost: %s", exc, extra={"action": "listen_lost"})
                await asyncio.sleep(0.5)
            finally:
                # The connection carries the LISTEN: never give it back to the pool.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _listen_on(self, conn: AsyncConnection) -> None:
        raw: Any = (await conn.get_raw_connection()).driver_connection
        lost = asyncio.Event()

        def notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            self._on_work(payload if payload in TOPICS else None)

        raw.add_termination_listener(lambda _conn: lost.set())
        await raw.add_listener(WORK_CHANNEL, notified)
        if self._ready.is_set():
            self._on_work(None)  # listening again: what came while we were not is unknown
        self._ready.set()
        while not lost.is_set():
            # A half-open TCP connection says nothing: ask now and then.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), _LISTEN_CHECK)
                break
            await raw.execute("SELECT 1", timeout=_LISTEN_CHECK)
        raise OSError("the LISTEN connection was closed")

    async def _poll_data_version(self) -> None:
        # On SQLite the worker is the only process that plans and sends; others (the CLI,
        # the HTTP API) add events. So a change of the file is looked at more closely only
        # for new events: this process's own commits change `data_version` too, and must
        # not wake it over and over while it fans out.
        database = make_url(self._engine.url).database
        assert database, "SQLite engines always have a file (see create_engine)"
        # Its two reads run on this thread (sqlite_inline): twenty looks a second cost
        # no hand-overs to a thread.
        connection = await sqlite_inline.connector(database, timeout=30)()
        try:
            last_version: object = None
            last_event: object = None
            while True:
                version = await _scalar(connection, "PRAGMA data_version")
                if version != last_version:
                    last_version = version
                    newest = await _scalar(connection, "SELECT coalesce(max(id), 0) FROM events")
                    if last_event is not None and newest != last_event:
                        self._on_work(TOPIC_EVENTS)
                    last_event = newest
                self._ready.set()
                await asyncio.sleep(self._interval)
        finally:
            await connection.close()


async def _scalar(connection: aiosqlite.Connection, sql: str) -> object:
    async with connection.execute(sql) as cursor:
        row = await cursor.fetchone()
    return row[0] if row else None
