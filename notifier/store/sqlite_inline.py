"""An aiosqlite connection that runs on the event loop's thread what cannot wait for a lock.

aiosqlite runs every call (open a cursor, execute, fetch, close) on a thread of its own and
hands the result back to the loop: four hand-overs per statement, each a GIL switch and a
loop wake-up. Measured on this project's 2-core machine, that was about half the CPU of
planning an order event, most of it spent on no I/O at all: SQLite statements on a local
file take microseconds.

What may wait is taking the write lock (`BEGIN IMMEDIATE`, up to the busy timeout while
another process writes) and a write outside such a transaction (it takes the lock itself).
Those still go to aiosqlite's thread, so the loop never blocks on another process.
Everything else, reads (WAL readers take no lock), the statements of a transaction that
holds the write lock and its `COMMIT`, runs at once on the caller's thread.

`COMMIT` used to go to the thread too, because it may run a WAL checkpoint (which writes
the database file and syncs it). But the write lock is held until the thread has run it,
and the thread waits for the GIL, up to the 5 ms switch interval while the loop runs
Python: under the load test at 200 order events/s, that wait made the lock the bottleneck
(the worker fell 7 s behind with its CPU half idle; committing at once, it kept within
0.2 s). So these connections never checkpoint on commit (`wal_autocheckpoint=0`); a
thread of their own does, once the WAL has grown past `CHECKPOINT_AFTER` bytes
(`Checkpoints`). A passive checkpoint waits for no lock and no writer waits for it.

Writers of all processes also queue for the write lock on a lock file beside the database
(`flock`), before `BEGIN IMMEDIATE`. SQLite's own busy handler sleeps between looks (1, 2,
5, ... up to 100 ms), so under steady writes from another process (the API recording
events while the worker plans them) a waiting writer could sleep while the lock came and
went, and the CPU idled. A process waiting on the file lock is woken as soon as it is
released. Writers that do not use the file (the sqlite3 shell) still meet the busy handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

_BUSY = object()  # the write lock is taken: wait for it on the thread

# Statements that cannot wait for another connection: reads, and ending a transaction by
# rolling it back. Anything else waits unless this connection already holds the write lock.
_NEVER_WAITS = ("SELECT", "PRAGMA", "ROLLBACK", "BEGIN DEFERRED", "SAVEPOINT", "RELEASE")


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, running lock-free calls in the caller's thread."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        iter_chunk_size: int,
        lock_file: str | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        super().__init__(connector, iter_chunk_size)
        self._count_lock = threading.Lock()
        # Calls queued to or running on the thread. A caller cancelled while its call runs
        # there (a timeout) does not wait for it; until it ends, later calls queue behind it
        # instead of running beside it.
        self._on_thread = 0
        self._holds_write_lock = False
        self._lock_fd: int | None = None
        self._lock_path = lock_file or ""
        if lock_file is not None and fcntl is not None:
            self._lock_fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        self._file_locked = False
        self._busy_ms: int | None = None  # the connection's busy timeout, read at first use
        self._wal: bool | None = None  # in WAL mode (commits wait for no reader), read once
        self._checkpoints = checkpoints

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        name = getattr(fn, "__name__", "")
        if name in ("execute", "executemany") and args and isinstance(args[0], str):
            head = args[0].lstrip()[:16].upper()
            if head.startswith(("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")):
                if not self._on_thread:
                    began = self._begin_if_free(fn, *args, **kwargs)
                    if began is not _BUSY:
                        return began
                return await self._threaded(self._begin_writing, fn, *args, **kwargs)
            if head.startswith(("COMMIT", "END")) or (
                head.startswith("ROLLBACK") and not head.startswith("ROLLBACK TO")
            ):
                return await self._end(fn, *args, **kwargs)
            if not self._on_thread and (
                self._holds_write_lock or head == "BEGIN" or head.startswith(_NEVER_WAITS)
            ):
                return fn(*args, **kwargs)
            return await self._threaded(fn, *args, **kwargs)
        if name in ("commit", "rollback"):
            return await self._end(fn, *args, **kwargs)
        if not self._on_thread and name in ("cursor", "close", "fetchone", "fetchmany", "fetchall"):
            return fn(*args, **kwargs)  # no statement runs: nothing to wait for
        return await self._threaded(fn, *args, **kwargs)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._close_lock_file()

    def stop(self) -> asyncio.Future[Any] | None:
        """Also when SQLAlchemy discards the connection without closing it."""
        try:
            return super().stop()
        finally:
            self._close_lock_file()

    def _close_lock_file(self) -> None:
        self._unlock_file()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _begin_if_free(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Take the write lock now if nobody holds it, without waiting; else `_BUSY`.

        Taking it on the thread means handing the loop back and waiting for it to resume
        us, while holding the lock: under load that wait made each transaction hold the
        lock several times longer than its statements take.
        """
        if self._lock_fd is not None and not self._file_locked and _first_writer(self._lock_path):
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _last_writer(self._lock_path)
                return _BUSY
            self._file_locked = True
        conn = self._conn
        if self._busy_ms is None:  # set once, when the pool's connect hook has run
            (self._busy_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
        timeout = self._busy_ms
        conn.execute("PRAGMA busy_timeout=0")
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            self._unlock_file()
            if conn.in_transaction or "locked" not in str(exc):
                raise
            return _BUSY  # another writer (one that does not use the lock file)
        except BaseException:
            self._unlock_file()
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
        self._holds_write_lock = True
        return result

    def _begin_writing(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """On the thread: the file lock, then SQLite's write lock."""
        if self._lock_fd is not None and not self._file_locked and _first_writer(self._lock_path):
            # Another connection of this process never holds the file lock here: a
            # transaction begun inside another (a bug, but one SQLite's busy timeout turns
            # into an error) must not wait for it forever.
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            except BaseException:
                _last_writer(self._lock_path)
                raise
            self._file_locked = True
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            self._unlock_file()
            raise
        self._holds_write_lock = True
        return result

    def _ending(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            self._holds_write_lock = False
            self._unlock_file()

    async def _end(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """COMMIT or ROLLBACK at once, unless calls are still waiting on the thread; the
        locks go with it. Outside WAL mode a COMMIT waits for readers: on the thread."""
        name = getattr(fn, "__name__", "")
        sql = args[0].lstrip()[:8].upper() if args and isinstance(args[0], str) else ""
        rolling_back = name == "rollback" or sql.startswith("ROLLBACK")
        if not self._on_thread and (rolling_back or self._in_wal_mode()):
            result = self._ending(fn, *args, **kwargs)
            if not rolling_back and self._checkpoints is not None:
                self._checkpoints.after_commit()
            return result
        return await self._threaded(self._ending, fn, *args, **kwargs)

    def _in_wal_mode(self) -> bool:
        if self._wal is None:  # read once: the pool's connect hook has set it by now
            (mode,) = self._conn.execute("PRAGMA journal_mode").fetchone()
            self._wal = str(mode).lower() == "wal"
        return self._wal

    def _unlock_file(self) -> None:
        if self._file_locked and self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            _last_writer(self._lock_path)
        self._file_locked = False

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


# Lock files this process holds through one of its connections (path -> holders, 0 or 1).
_holding: dict[str, int] = {}
_holding_lock = threading.Lock()


def _first_writer(path: str) -> bool:
    """Count this process in as holding the file lock of `path`, unless it already does."""
    with _holding_lock:
        if _holding.get(path, 0):
            return False
        _holding[path] = 1
        return True


def _last_writer(path: str) -> None:
    with _holding_lock:
        _holding[path] = 0


class Checkpoints:
    """WAL checkpoints of one database file for this process's connections, on a thread.

    After each commit, a look at the WAL's size (one `stat`); past `after` bytes, a
    `PASSIVE` checkpoint on a connection of its own, in a daemon thread, one at a time and
    at most one every `every` seconds (SQLite reuses the WAL file from its start after a
    checkpoint without shrinking it, so its size alone would ask for one after every
    commit). A process killed during one leaves nothing to repair: SQLite finishes or
    redoes it.
    """

    def __init__(self, database: str, *, after: int, every: float) -> None:
        self._database = database
        self._wal = f"{database}-wal"
        self._after = after
        self._every = every
        self._running = False  # set and cleared under the GIL: one checkpoint at a time
        self._next = 0.0  # time.monotonic() before which no other starts
        self.done = 0  # checkpoints run (for tests)

    def after_commit(self) -> None:
        if self._running or time.monotonic() < self._next:
            return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return
        if size >= self._after:
            self._running = True
            threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self._database, timeout=0)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                connection.close()
            self.done += 1
        except sqlite3.Error as exc:
            # The next commit past the size tries again; a WAL that keeps growing should
            # not go unnoticed (a full disk, say).
            log.warning(
                "WAL checkpoint of %s failed: %s",
                self._database,
                exc,
                extra={"action": "sqlite_checkpoint_failed"},
            )
        finally:
            self._next = time.monotonic() + self._every
            self._running = False


# SQLite's own default: 1,000 pages of 4 KiB.
CHECKPOINT_AFTER = 4 * 1024 * 1024
CHECKPOINT_EVERY = 1.0  # seconds, at most one
_checkpoints: dict[str, Checkpoints] = {}
_checkpoints_lock = threading.Lock()


def _forget_checkpoints() -> None:
    """In a forked child: a checkpoint thread of the parent does not exist here, so its
    `Checkpoints` would stay "running" for good, and the lock may have been held."""
    global _checkpoints_lock
    _checkpoints.clear()
    _checkpoints_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_forget_checkpoints)


def checkpoints_for(database: str) -> Checkpoints:
    """The process's one `Checkpoints` of `database`."""
    path = os.path.abspath(database)
    with _checkpoints_lock:
        if path not in _checkpoints:
            _checkpoints[path] = Checkpoints(path, after=CHECKPOINT_AFTER, every=CHECKPOINT_EVERY)
        return _checkpoints[path]


def connector(database: str, *, timeout: float) -> Callable[[], Awaitable[InlineConnection]]:
    """An async function that opens `database` (SQLAlchemy's `async_creator`)."""

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, timeout=timeout, check_same_thread=False)
        # A commit runs on the loop's thread: it must not checkpoint (see the module's text).
        connection.execute("PRAGMA wal_autocheckpoint=0")
        return connection

    async def open_connection() -> InlineConnection:
        connection = InlineConnection(
            # The connection is made on aiosqlite's thread and used on both.
            connect,
            iter_chunk_size=64,
            lock_file=f"{database}-writer.lock",
            checkpoints=checkpoints_for(database),
        )
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        await connection
        return connection

    return open_connection
