"""An aiosqlite connection that runs on the event loop's thread what cannot wait for a lock.

aiosqlite runs every call (open a cursor, execute, fetch, close) on a thread of its own and
hands the result back to the loop: four hand-overs per statement, each a GIL switch and a
loop wake-up. Measured on this project's 2-core machine, that was about half the CPU of
planning an order event, most of it spent on no I/O at all: SQLite statements on a local
file take microseconds.

What may wait is taking the write lock (`BEGIN IMMEDIATE`, up to the busy timeout while
another process writes), a write outside such a transaction (it takes the lock itself),
and `COMMIT` (it may run a WAL checkpoint, which writes and syncs the file). Those still go
to aiosqlite's thread, so the loop never blocks on another process. Everything else, reads
(WAL readers take no lock) and the statements of a transaction that holds the write lock,
runs at once on the caller's thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiosqlite

# Statements that cannot wait for another connection: reads, and ending a transaction by
# rolling it back. Anything else waits unless this connection already holds the write lock.
_NEVER_WAITS = ("SELECT", "PRAGMA", "ROLLBACK", "BEGIN DEFERRED", "SAVEPOINT", "RELEASE")


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, running lock-free calls in the caller's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._count_lock = threading.Lock()

    _holds_write_lock = False
    # Calls queued to or running on the thread. A caller cancelled while its call runs there
    # (a timeout) does not wait for it; until it ends, later calls queue behind it instead
    # of running beside it.
    _on_thread = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if self._on_thread:
            return await self._threaded(fn, *args, **kwargs)
        sql = args[0] if args and isinstance(args[0], str) else None
        if sql is not None and getattr(fn, "__name__", "") in ("execute", "executemany"):
            head = sql.lstrip()[:16].upper()
            if head.startswith("BEGIN IMMEDIATE") or head.startswith("BEGIN EXCLUSIVE"):
                result = await self._threaded(fn, *args, **kwargs)
                self._holds_write_lock = True
                return result
            if head.startswith(("COMMIT", "END")):
                return await self._ending(fn, *args, **kwargs)
            if head.startswith("ROLLBACK") and not head.startswith("ROLLBACK TO"):
                self._holds_write_lock = False
            if self._holds_write_lock or head == "BEGIN" or head.startswith(_NEVER_WAITS):
                return fn(*args, **kwargs)
            return await self._threaded(fn, *args, **kwargs)
        name = getattr(fn, "__name__", "")
        if name == "commit":
            return await self._ending(fn, *args, **kwargs)
        if name == "rollback":
            self._holds_write_lock = False
            return fn(*args, **kwargs)
        if name in ("cursor", "close", "fetchone", "fetchmany", "fetchall"):
            return fn(*args, **kwargs)  # no statement runs: nothing to wait for
        return await self._threaded(fn, *args, **kwargs)

    async def _threaded(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._count_lock:
            self._on_thread += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._count_lock:
                    self._on_thread -= 1

        return await super()._execute(run)  # type: ignore[no-untyped-call]

    async def _ending(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._threaded(fn, *args, **kwargs)
        finally:
            self._holds_write_lock = False


def connector(database: str, *, timeout: float) -> Callable[[], Awaitable[InlineConnection]]:
    """An async function that opens `database` (SQLAlchemy's `async_creator`)."""

    async def open_connection() -> InlineConnection:
        connection = InlineConnection(
            # The connection is made on aiosqlite's thread and used on both.
            partial(sqlite3.connect, database, timeout=timeout, check_same_thread=False),
            iter_chunk_size=64,
        )
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        await connection
        return connection

    return open_connection
