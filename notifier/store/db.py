"""The database engine, with the per-dialect settings that make it safe to share, and what
an outage looks like (`unavailable`, `wait_for_database`). Waking idle workers is in
`store.wakeup`."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import weakref
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from notifier.store import sqlite_inline

log = logging.getLogger(__name__)

# Seconds the worker's parts wait before trying again while the database is unavailable.
RETRY_OUTAGE_AFTER = 1.0


def unavailable(exc: BaseException) -> bool:
    """True if `exc` says the database cannot be reached (down, restarting, connection cut),
    not that a statement is wrong: wait and try again, rather than fail.

    A refused connection surfaces as the driver's OSError; a connection cut mid-statement as
    a DBAPIError that invalidated it; "the database system is shutting down" or "starting
    up" as an OperationalError or InterfaceError. A constraint or SQL error is a bug.
    """
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        # asyncpg's refusals while the server stops or starts ("the database system is
        # shutting down", at connect) reach us as a plain DBAPIError: its SQLSTATE tells.
        return _sqlstate(exc) in _UNAVAILABLE_STATES
    return isinstance(exc, OSError | TimeoutError)


# admin_shutdown, crash_shutdown, cannot_connect_now; and class 08, connection exceptions.
_UNAVAILABLE_STATES = frozenset(
    {"57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"}
)


def refused_login(exc: BaseException) -> bool:
    """True if the server answered but refused the URL: no such database (3D000), role or
    password (class 28). Waiting will not help; the URL needs mending."""
    state = _sqlstate(exc) or ""
    return state == "3D000" or state.startswith("28")


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the driver's error behind `exc`, if it has one."""
    seen: BaseException | None = exc
    for _ in range(4):  # SQLAlchemy's error -> its adapted driver error -> asyncpg's
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        if seen is None:
            return None
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


async def wait_for_database(url: str, *, interval: float = 1.0) -> float:
    """Return once the database at `url` accepts a connection; the seconds waited.

    Logs when it starts waiting (and every 30 s after that): a worker started during a
    database outage waits for it instead of exiting. SQLite (a file) is never waited for.
    """
    if make_url(url).get_backend_name() == "sqlite":
        return 0.0
    engine = create_engine(url)
    began = time.monotonic()
    logged_at: float | None = None
    try:
        while True:
            try:
                async with engine.connect():
                    return time.monotonic() - began
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                if not unavailable(exc):
                    raise
                if logged_at is None or time.monotonic() - logged_at >= 30.0:
                    logged_at = time.monotonic()
                    log.warning(
                        "database unavailable, waiting for it: %s",
                        brief(exc),
                        extra={"action": "database_unavailable"},
                    )
            await asyncio.sleep(interval)
    finally:
        await engine.dispose()


def brief(exc: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's statement and parameters."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0] if text else ''}"


def create_engine(
    url: str, *, echo: bool = False, statement_timeout: float | None = None
) -> AsyncEngine:
    """An async engine for `url` (sqlite+aiosqlite or postgresql+asyncpg).

    `statement_timeout` (PostgreSQL): seconds after which the client gives up on a
    statement and raises TimeoutError (`unavailable` says: an outage). None: no limit.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    connect_args = {"command_timeout": statement_timeout} if statement_timeout else {}
    engine = create_async_engine(
        url, echo=echo, pool_size=10, max_overflow=10, connect_args=connect_args
    )
    _ping_when_idle(engine)
    return engine


def reads(engine: AsyncEngine) -> AsyncConnection:
    """A connection for reads only (`async with reads(engine) as conn`).

    PostgreSQL: in autocommit, so a read costs its statements' round trips and no BEGIN and
    ROLLBACK around them. Nothing is lost by it: at PostgreSQL's READ COMMITTED every
    statement of a transaction takes a snapshot of its own anyway. SQLite: a read
    transaction as `engine.connect()` gives (one snapshot for all its statements, no
    round trips to save).
    """
    if not is_postgresql(engine):
        return engine.connect()
    autocommit = _autocommit.get(engine)
    if autocommit is None:
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        _autocommit[engine] = autocommit
    return autocommit.connect()


_autocommit: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


# Seconds a pooled PostgreSQL connection may sit unused before its next checkout pings it.
PING_IDLE_AFTER = 2.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's pool_pre_ping, for connections that sat unused for PING_IDLE_AFTER.

    The pre-ping costs three round trips on asyncpg (BEGIN, an empty statement, ROLLBACK)
    at every checkout: under the load test a third of all the statements PostgreSQL ran.
    A connection in steady use has just shown it works. One cut since then fails its next
    statement like one cut mid-statement: SQLAlchemy invalidates it with the rest of the
    pool, and the caller sees an outage (the API answers 503, the worker waits and tries
    again). One idle for longer, say across a restart of the server, is checked first and
    replaced without anyone noticing.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_AFTER:
            return  # new, or just used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out a new one (up to 3 tries).
            raise DisconnectionError(f"idle connection lost: {brief(exc)}") from exc


def _sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    database = make_url(url).database
    if not database or database == ":memory:":
        # An in-memory database is one shared connection: every session would see the others'
        # uncommitted work. A temporary file behaves like the real thing.
        raise ValueError("use a file for SQLite (an in-memory database cannot be shared)")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=echo, async_creator=sqlite_inline.connector(database, timeout=30)
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let us issue BEGIN ourselves (below) instead of the driver's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    turns = _Turns()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if _autobegun():
            # `engine.connect()`: a read (every write of ours goes through `begin()`). In WAL
            # mode a reader needs no lock and waits for no writer: a deferred BEGIN gives
            # its statements one snapshot, and the API's reads do not queue behind the
            # worker's writes.
            connection.exec_driver_sql("BEGIN")
            return
        # SQLite has one writer. Taking the write lock at BEGIN makes claims and read-then-write
        # sequences serialise instead of failing with "database is locked" at the first write.
        # Within this process they also take turns here first: a transaction waiting in
        # SQLite's busy handler sleeps 1, 2, 5, 10... ms between looks, and under load (the
        # fan-out writing pages while the dispatcher claims) that cost tens of ms per claim.
        turns.take(connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            turns.give_back(connection)
            raise

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _on_end(connection: Any) -> None:
        turns.give_back(connection)

    @event.listens_for(engine.sync_engine, "checkin")
    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_release(_dbapi_connection: Any, record: ConnectionPoolEntry, *_args: Any) -> None:
        turns.give_back(record)  # never leave the turn held by a connection that is gone

    return engine


_TURN = "notifier.sqlite_turn"


def _autobegun(depth: int = 8) -> bool:
    """Whether the transaction starting now is SQLAlchemy's autobegin (a statement run on a
    connection from `connect()`), not an explicit `begin()`. SQLAlchemy's begin event does
    not say which, so the caller's frames are read; should SQLAlchemy's internals change,
    this answers False and every transaction takes the write lock, as before."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_name == "_autobegin":
            return True
        frame = frame.f_back
    return False


class _Turns:
    """One SQLite transaction at a time per process, waiting in asyncio, not in SQLite.

    Taken in the `begin` event (inside SQLAlchemy's greenlet, so it may await) and given
    back at commit or rollback, or when the connection goes back to the pool. A turn held
    longer than `_TURN_WAIT` (a task holding a transaction while it waits for another) is
    not waited for any more: SQLite's own busy timeout then decides, as before.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def take(self, connection: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a sync caller (no loop): SQLite's busy handler only
            return
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        if await_only(_acquire(lock)):
            connection.info[_TURN] = lock

    def give_back(self, holder: Any) -> None:
        lock = holder.info.pop(_TURN, None)
        if lock is not None and lock.locked():
            lock.release()


_TURN_WAIT = 30.0


async def _acquire(lock: asyncio.Lock) -> bool:
    try:
        async with asyncio.timeout(_TURN_WAIT):
            await lock.acquire()
    except TimeoutError:
        log.warning(
            "an SQLite transaction waited %.0f s for its turn; going on without it",
            _TURN_WAIT,
            extra={"action": "sqlite_turn_timeout"},
        )
        return False
    return True


def is_postgresql(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def dialect_insert(dialect: str) -> Any:
    """The `insert` of the dialect named `dialect`: both have ON CONFLICT, which the
    generic one has not."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
