"""A worker that wakes with nothing to plan looks without taking SQLite's write lock, so
the API's writes never queue behind its idle looks; with something to plan, it claims."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from notifier.runtime.worker import Worker
from notifier.services.orders import record_order_event
from tests.harness import harness
from tests.waiting import GENEROUS


async def test_nothing_to_plan_takes_no_write_lock(tmp_path: Path) -> None:
    database = tmp_path / "notifier.db"
    async with harness(f"sqlite+aiosqlite:///{database}") as h:
        await h.load_customers(tmp_path)
        worker = Worker(h.app)
        try:
            other = sqlite3.connect(database, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process is writing, for a while
            # Done while the lock is still held: a look that wanted it could not finish
            # (it would wait, then fail after SQLite's busy timeout).
            stats = await asyncio.wait_for(worker.planner.plan_pending(), GENEROUS)
            assert stats.events == 0
            other.execute("COMMIT")

            await record_order_event(
                h.app.engine, "o-1", status="placed", customer_id="c-en", now=h.clock.now()
            )
            other.execute("BEGIN IMMEDIATE")
            planning = asyncio.create_task(worker.planner.plan_pending())
            # The stimulus: the lock stays held a moment with the claim under way. Not done
            # meanwhile (a slow machine only makes this easier to hold, never false).
            await asyncio.sleep(0.3)
            assert not planning.done()  # an event waits: the claim needs the lock
            other.execute("COMMIT")
            other.close()
            assert (await asyncio.wait_for(planning, GENEROUS)).events == 1
        finally:
            await worker.close()
