"""SQLite statements that cannot wait run on the event loop's thread; those that may wait
for another process's write lock never block the loop."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import sqlite_inline
from notifier.store.db import create_engine
from tests.databases import sqlite_url
from tests.waiting import GENEROUS, wait_for


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url(tmp_path))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    await engine.dispose()


async def _thread_of(conn: object, statement: str) -> int:
    """The thread that ran `statement` (it calls the registered `here()`)."""
    result = await conn.execute(text(statement))  # type: ignore[attr-defined]
    return int(result.scalar_one())


async def _register_here(engine: AsyncEngine) -> None:
    # A fresh pool with one connection, so every statement below runs on the connection
    # that knows `here()`.
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert raw.driver_connection is not None
        await raw.driver_connection.create_function("here", 0, threading.get_ident)


async def test_reads_and_locked_writes_run_on_the_loop_thread(engine: AsyncEngine) -> None:
    await _register_here(engine)
    loop_thread = threading.get_ident()
    async with engine.connect() as conn:
        assert await _thread_of(conn, "SELECT here()") == loop_thread
    async with engine.begin() as conn:  # BEGIN IMMEDIATE: this connection holds the lock
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert await _thread_of(conn, "INSERT INTO t SELECT here() RETURNING n") == loop_thread
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_waiting_for_the_write_lock_does_not_block_the_loop(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Another process holds the write lock for a while: our BEGIN IMMEDIATE, and a write
    outside a write transaction, wait for it off the loop; the loop keeps running."""
    other = sqlite3.connect(tmp_path / "notifier.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (100)")
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def write_in_transaction() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))

    async def write_outside_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
            await conn.commit()

    writes = [asyncio.create_task(write_in_transaction()), asyncio.create_task(write_outside_one())]
    ticking = asyncio.create_task(ticker())
    # The loop runs while both wait: had a wait blocked it, no tick would come until
    # SQLite's busy timeout ended that write with an error.
    await wait_for(lambda: ticks >= 20, what="20 turns of the loop while the writes wait")
    assert not any(w.done() for w in writes)  # both still wait for the lock
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(asyncio.gather(*writes), GENEROUS)
    stop.set()
    await ticking
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
    assert rows == [1, 2, 100]


async def test_a_cancelled_wait_does_not_leave_the_connection_shared(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A caller that gives up while waiting for the lock: the connection it held still
    works, and later statements on it run after the abandoned one, not beside it."""
    other = sqlite3.connect(tmp_path / "notifier.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))

    def release() -> None:
        other.execute("COMMIT")
        other.close()

    # The lock is released while the cancelled call still waits on the thread (cancelling
    # it ends when that call does: SQLAlchemy rolls the connection back behind it).
    asyncio.get_running_loop().call_later(0.5, release)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(write(), 0.2)
    await asyncio.wait_for(write(), GENEROUS)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_writers_of_all_processes_queue_on_the_lock_file(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A write transaction holds the lock file beside the database; a writer of another
    process that holds it makes ours wait (off the loop) until it lets go."""
    lock_file = tmp_path / "notifier.db-writer.lock"

    def file_is_free() -> bool:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # also lets go of the lock, if taken
        return True

    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert not file_is_free()
    assert file_is_free()  # let go at commit

    other = os.open(lock_file, os.O_RDWR)  # another process's writer, as far as flock goes
    fcntl.flock(other, fcntl.LOCK_EX)

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))

    writing = asyncio.create_task(write())
    turns = 0

    async def turn() -> bool:
        nonlocal turns
        turns += 1  # one more turn of the loop since the write began to wait
        return turns >= 5

    await wait_for(turn, what="the loop to run while the write waits")
    assert not writing.done()
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    await asyncio.wait_for(writing, GENEROUS)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2


async def test_commit_runs_on_the_loop_thread(engine: AsyncEngine) -> None:
    """The write lock is let go as soon as the transaction's work is done: COMMIT does not
    wait for aiosqlite's thread (and the GIL) while holding it."""
    ran: list[tuple[str, int]] = []
    async with engine.connect() as conn:  # the pool's one connection
        raw = await conn.get_raw_connection()
        assert raw.driver_connection is not None
        await raw.driver_connection.set_trace_callback(
            lambda sql: ran.append((sql.strip().upper(), threading.get_ident()))
        )
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
    commits = [thread for sql, thread in ran if sql == "COMMIT"]
    assert commits == [threading.get_ident()]


async def test_a_thread_of_its_own_checkpoints_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits never checkpoint (they run on the loop's thread); once the WAL has grown past
    the limit, a checkpoint on another thread copies it into the database file."""
    monkeypatch.setattr(sqlite_inline, "CHECKPOINT_AFTER", 64 * 1024)
    database = tmp_path / "notifier.db"
    engine = create_engine(sqlite_url(tmp_path))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE blobs (b BLOB)"))
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
        checkpoints = sqlite_inline.checkpoints_for(str(database))
        assert checkpoints.done == 0
        size_before = database.stat().st_size
        async with engine.begin() as conn:
            for _ in range(16):
                await conn.execute(text("INSERT INTO blobs VALUES (zeroblob(32768))"))
        await wait_for(lambda: checkpoints.done >= 1, what="a checkpoint on its own thread")
        # The pages are in the database file itself now, not only in the WAL.
        assert database.stat().st_size >= size_before + 16 * 32768
    finally:
        await engine.dispose()


def test_a_forked_child_starts_with_checkpoints_of_its_own(tmp_path: Path) -> None:
    """A checkpoint thread of the parent does not exist in a child: its `Checkpoints` must
    not stay "running" there (no checkpoint would ever run again)."""
    database = str(tmp_path / "fork.db")
    parents = sqlite_inline.checkpoints_for(database)
    parents._running = True  # as if its thread were checkpointing at the fork
    try:
        child = os.fork()
        if child == 0:
            mine = sqlite_inline.checkpoints_for(database)
            os._exit(0 if mine is not parents and not mine._running else 1)
        _, status = os.waitpid(child, 0)
    finally:
        parents._running = False
    assert os.waitstatus_to_exitcode(status) == 0
    assert sqlite_inline.checkpoints_for(database) is parents  # the parent keeps its own
