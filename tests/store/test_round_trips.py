"""PostgreSQL round trips: a pooled connection is pinged at checkout only after sitting
unused for a while (the ping costs three round trips), and one that died while idle is
replaced unseen; reads run without BEGIN and ROLLBACK."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import db
from notifier.store.db import create_engine
from tests.databases import PG_HOST, PG_PORT, PG_USER, postgres_database

pytestmark = pytest.mark.postgres


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pid: int) -> None:
    admin = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_an_idle_connection_that_died_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Idle for any time at all counts: no pause needed to make the connection "idle".
    monkeypatch.setattr(db, "PING_IDLE_AFTER", 0.0)
    async with postgres_database() as url:
        engine = create_engine(url)
        try:
            first = await _backend(engine)
            await _terminate(first)  # the server restarted, say, while the pool sat idle
            assert await _backend(engine) != first  # pinged, found dead, replaced
        finally:
            await engine.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ping within PING_IDLE_AFTER of its last use: a connection cut in between fails its
    next statement, which counts as an outage, and the pool starts afresh."""
    monkeypatch.setattr(db, "PING_IDLE_AFTER", 60.0)
    async with postgres_database() as url:
        engine = create_engine(url)
        try:
            first = await _backend(engine)
            await _terminate(first)
            with pytest.raises(Exception) as caught:
                await _backend(engine)
            assert db.unavailable(caught.value)
            assert await _backend(engine) != first
        finally:
            await engine.dispose()


async def test_reads_run_without_a_transaction_and_leave_the_pool_as_it_was() -> None:
    """`reads()`: each statement on its own (no BEGIN, no ROLLBACK round trips), and the
    connection goes back to the pool transactional again."""
    async with postgres_database() as url:
        engine = create_engine(url)
        try:
            async with db.reads(engine) as conn:
                # Two round trips apart: microseconds at least, which now() tells apart.
                first = (await conn.execute(text("SELECT now()"))).scalar_one()
                second = (await conn.execute(text("SELECT now()"))).scalar_one()
            assert second > first  # now() is the start of each statement's own transaction
            for _ in range(3):  # whichever pooled connection comes next
                async with engine.connect() as conn:
                    first = (await conn.execute(text("SELECT now()"))).scalar_one()
                    second = (await conn.execute(text("SELECT now()"))).scalar_one()
                assert second == first  # one transaction
        finally:
            await engine.dispose()
