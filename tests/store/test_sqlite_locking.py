"""SQLite: writers take turns at BEGIN; readers never wait for a writer (WAL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from notifier.store.tables import incident_updates, incidents
from tests.databases import sqlite_url
from tests.waiting import GENEROUS


async def test_a_read_does_not_wait_for_a_write_in_progress(tmp_path: Path) -> None:
    """The API's reads (`engine.connect()`) go on while the worker holds a write
    transaction; they see the last committed state."""
    engine = create_engine(sqlite_url(tmp_path))
    await upgrade(engine)
    read_done = asyncio.Event()
    writing = asyncio.Event()

    async def writer() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(incidents), [_incident()])
            writing.set()
            # Held open until the reader is done: a reader that waited for this
            # transaction would never finish.
            await asyncio.wait_for(read_done.wait(), GENEROUS)

    async def reader() -> int:
        await writing.wait()
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(incidents))).scalar_one()
        read_done.set()
        return int(count)

    try:
        write = asyncio.create_task(writer())
        seen = await asyncio.wait_for(reader(), GENEROUS)
        await write
        assert seen == 0  # the uncommitted row is not visible
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(incidents))).scalar_one()
        assert total == 1
    finally:
        await engine.dispose()


async def test_writes_still_take_turns(tmp_path: Path) -> None:
    """Two read-then-write transactions at once: both commit, neither fails with
    'database is locked' (each takes the write lock at BEGIN)."""
    engine = create_engine(sqlite_url(tmp_path))
    await upgrade(engine)
    async with engine.begin() as conn:
        incident_id = (
            await conn.execute(insert(incidents).returning(incidents.c.id), [_incident()])
        ).scalar_one()

    async def add_update(n: int) -> None:
        async with engine.begin() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(incident_updates))
            ).scalar_one()
            await asyncio.sleep(0.01)  # the other transaction tries to begin meanwhile
            await conn.execute(
                insert(incident_updates),
                [
                    {
                        "incident_id": incident_id,
                        "status": "investigating",
                        "message": f"update {n} after {count}",
                        "created_at": _NOW,
                    }
                ],
            )

    try:
        await asyncio.gather(*(add_update(n) for n in range(5)))
        async with engine.connect() as conn:
            messages = (await conn.execute(select(incident_updates.c.message))).scalars().all()
        # Serialised: each saw the ones before it.
        assert sorted(int(m.rsplit(" ", 1)[1]) for m in messages) == [0, 1, 2, 3, 4]
    finally:
        await engine.dispose()


_NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _incident() -> dict[str, Any]:
    return {
        "title": "Outage",
        "severity": "major",
        "status": "declared",
        "affects": ["radio"],
        "declared_at": _NOW,
        "updated_at": _NOW,
    }
