"""Planning claims: a planner that dies or is stopped mid-fan-out holds its audience back
for seconds, not for a delivery lease.

- SIGKILL: two `notifier worker` processes share PostgreSQL; the one planning an incident's
  fan-out is killed half-way. The other completes the audience: every customer gets exactly
  one email row and one SMS row.
- SIGTERM: a worker stopped half-way through a fan-out exits cleanly (code 0), with the
  event unplanned and its claim released (not left until a lease runs out), and the next
  worker completes the audience.

The delivery lease (which claims on events used to last) is set long: `LONG_LEASE`. Each
test waits for the audience with a deadline well below it, so that waiting out an old-style
claim cannot pass; it asserts no duration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifier.store.db import create_engine
from notifier.store.tables import events, outbox
from tests.databases import postgres_database
from tests.reliability.procs import (
    WorkerProcess,
    declare_incident,
    prepare_database,
    start_peers,
    write_config,
)

pytestmark = [pytest.mark.slow]

CUSTOMERS = 5_000
PAGE = 20  # small pages: the fan-out is long enough to be caught half-way
LONG_LEASE = 120.0  # delivery.lease_seconds: what a claim on an event used to last
PLANNING_LEASE = 2.0  # scheduler.planning_lease
# Below LONG_LEASE: only a claim that was renewed and then ran out (or was given back) lets
# the audience complete in time.
AUDIENCE_DEADLINE = 90.0


async def _until(what: str, check: Callable[[], Awaitable[bool]], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {limit:g} s waiting for {what}")
        await asyncio.sleep(0.02)


class Audience:
    """What the database says about the incident's fan-out."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    async def claim(self) -> tuple[str | None, bool]:
        """Who holds the (one) event's claim, and whether it is planned."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(events.c.claimed_by, events.c.planned_at))).one()
        return row.claimed_by, row.planned_at is not None

    async def rows(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(outbox))).scalar_one())

    async def complete(self) -> bool:
        _holder, planned = await self.claim()
        return planned and await self.rows() >= 2 * CUSTOMERS

    async def per_customer(self) -> dict[tuple[str, str], int]:
        """Rows per (customer, channel) that appear other than exactly once."""
        async with self.engine.connect() as conn:
            query = select(outbox.c.customer_id, outbox.c.channel, func.count()).group_by(
                outbox.c.customer_id, outbox.c.channel
            )
            counts = {(c, ch): int(n) for c, ch, n in (await conn.execute(query)).all()}
        return counts

    async def close(self) -> None:
        await self.engine.dispose()


async def _under_way(audience: Audience, holders: set[str]) -> str:
    """Wait until one of `holders` is half-way through the fan-out; return its id."""
    held: list[str] = []

    async def planning() -> bool:
        holder, planned = await audience.claim()
        assert not planned, "the fan-out ended before it could be interrupted"
        if holder in holders and await audience.rows() >= CUSTOMERS // 5:
            held.append(holder)
            return True
        return False

    await _until("a worker half-way through the fan-out", planning, AUDIENCE_DEADLINE)
    return held[0]


async def _check_complete(audience: Audience) -> None:
    await _until(
        f"every customer planned (within {AUDIENCE_DEADLINE:g} s, below the "
        f"{LONG_LEASE:g} s delivery lease)",
        audience.complete,
        AUDIENCE_DEADLINE,
    )
    counts = await audience.per_customer()
    assert len(counts) == 2 * CUSTOMERS, f"{len(counts)} customer-channels, not {2 * CUSTOMERS}"
    twice = {k: n for k, n in counts.items() if n != 1}
    assert not twice, f"planned more than once: {list(twice.items())[:5]}"


def _config(workdir: Path, url: str, smtp_port: int, twilio_url: str) -> Path:
    return write_config(
        workdir,
        url,
        smtp_port,
        twilio_url,
        batch_size=PAGE,
        lease_seconds=LONG_LEASE,
        planning_lease=PLANNING_LEASE,
    )


@pytest.mark.postgres
async def test_a_killed_planner_is_taken_over_by_the_other_worker(tmp_path: Path) -> None:
    smtp, twilio = start_peers()
    workers: list[WorkerProcess] = []
    victim: WorkerProcess | None = None
    try:
        async with postgres_database() as url:
            await prepare_database(url, CUSTOMERS)
            config = _config(tmp_path, url, smtp.port, twilio.base_url)
            workers = [WorkerProcess(config, tmp_path / f"worker-{i}.log") for i in range(2)]
            for w in workers:
                await asyncio.to_thread(w.start)
            by_id = {w.worker_id: w for w in workers if w.worker_id is not None}
            audience = Audience(url)
            try:
                await declare_incident(url)
                victim = by_id[await _under_way(audience, set(by_id))]
                await asyncio.to_thread(victim.kill)
                planned_at_kill = await audience.rows()
                assert planned_at_kill < 2 * CUSTOMERS, "killed after the fan-out ended"
                await _check_complete(audience)
            finally:
                await audience.close()
                codes = [w.stop() for w in workers if w is not victim]
            assert codes == [0], [w.output() for w in workers]
    finally:
        smtp.stop()
        twilio.stop()


async def test_sigterm_gives_the_unplanned_audience_back(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sigterm.db'}"
    smtp, twilio = start_peers()
    worker: WorkerProcess | None = None
    try:
        await prepare_database(url, CUSTOMERS)
        config = _config(tmp_path, url, smtp.port, twilio.base_url)
        worker = WorkerProcess(config, tmp_path / "worker.log")
        await asyncio.to_thread(worker.start)
        assert worker.worker_id is not None
        audience = Audience(url)
        try:
            await declare_incident(url)
            await _under_way(audience, {worker.worker_id})
            # SIGTERM, and the exit waited for (stop() kills only after 30 s).
            code = await asyncio.to_thread(worker.stop)
            assert code == 0, worker.output()
            holder, planned = await audience.claim()
            rows = await audience.rows()
            # Interrupted, not finished first; and given back, not held until a lease ends.
            assert not planned and rows < 2 * CUSTOMERS, (planned, rows, worker.output())
            assert holder is None, f"the event is still claimed by {holder}"

            await asyncio.to_thread(worker.start)
            await _check_complete(audience)
        finally:
            await audience.close()
    finally:
        if worker is not None:
            code = worker.stop()
            assert code == 0, worker.output()
        smtp.stop()
        twilio.stop()
