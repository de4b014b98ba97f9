"""Crash: `notifier worker` processes fanning an incident out (email and SMS, to peers in
other processes) are killed with SIGKILL at random instants and restarted.

At the end the peers count what they accepted: no message may be lost, and the duplicates
may not exceed what the killed worker had claimed and not recorded at each kill (which is at
most `delivery.batch_size` per channel per kill).

Sizes (environment variables; the defaults are the issue's figures):
    RELIABILITY_CUSTOMERS (default 10000), RELIABILITY_PG_CUSTOMERS (default: the same)
    RELIABILITY_KILLS (default 20), RELIABILITY_PG_KILLS (default: the same)
    RELIABILITY_SEED (random seed of the kill instants; default: random, printed)
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.peers import Peer
from tests.databases import postgres_database
from tests.reliability.procs import (
    WorkerProcess,
    declare_incident,
    env_int,
    final_stats,
    in_flight,
    machine,
    outbox_counts,
    prepare_database,
    start_peers,
    write_config,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow]

CUSTOMERS = env_int("RELIABILITY_CUSTOMERS", 10_000)
KILLS = env_int("RELIABILITY_KILLS", 20)
BATCH = 100
LEASE = 1.0  # seconds: a dead worker's claims are taken back this soon
# Each kill comes this long (uniformly drawn) after the worker said it was running.
KILL_AFTER = (0.1, 1.0)
# Seconds: only turns a hang into a failure; the test never judges how long draining took.
DRAIN_WITHIN = 600.0


@dataclass
class CrashRun:
    store: str
    customers: int
    kills: int
    seed: int
    lost: dict[str, int]
    duplicates: dict[str, int]
    in_flight_at_kills: list[int]
    seconds: float
    statuses: dict[str, int]

    def report(self) -> str:
        return (
            f"[crash {self.store}] {machine()}; {self.customers} customers x 2 channels = "
            f"{2 * self.customers} messages; {self.kills} SIGKILLs (seed {self.seed}); "
            f"lost email {self.lost['email']} sms {self.lost['sms']}; duplicates email "
            f"{self.duplicates['email']} sms {self.duplicates['sms']} (total "
            f"{sum(self.duplicates.values())}); in flight at the kills: total "
            f"{sum(self.in_flight_at_kills)}, max {max(self.in_flight_at_kills, default=0)} "
            f"(bound kills x batch x 2 channels = {self.kills * BATCH * 2}); kills with "
            f"work in flight {sum(1 for n in self.in_flight_at_kills if n)}; "
            f"{self.seconds:.1f} s from declare to drained; outbox {self.statuses}"
        )


def _seed() -> int:
    value = os.environ.get("RELIABILITY_SEED")
    return int(value) if value else random.SystemRandom().randrange(1_000_000)


async def _wait_drained(url: str, smtp: Peer, twilio: Peer, count: int) -> None:
    """Until every message is settled in the outbox and at the peers."""
    seen: dict[str, object] = {}

    async def drained() -> bool:
        statuses = await outbox_counts(url)
        email, sms = smtp.stats().distinct, twilio.stats().distinct
        seen.update(outbox=statuses, email=email, sms=sms)
        done = statuses.get("sent", 0) + statuses.get("failed", 0)
        return done >= 2 * count and email >= count and sms >= count

    await wait_for(
        drained,
        what=lambda: f"all {2 * count} messages settled and at the peers (seen {seen})",
        within=DRAIN_WITHIN,
        interval=0.25,
    )


async def _crash_run(
    store: str, url: str, workdir: Path, *, workers: int, kills: int, customers: int
) -> CrashRun:
    seed = _seed()
    rng = random.Random(seed)
    print(f"\n[crash {store}] seed {seed}")
    smtp, twilio = start_peers()
    running: list[WorkerProcess] = []
    try:
        await prepare_database(url, customers)
        config = write_config(
            workdir,
            url,
            smtp.port,
            twilio.base_url,
            batch_size=BATCH,
            lease_seconds=LEASE,
            planning_lease=LEASE,
        )
        running = [WorkerProcess(config, workdir / f"worker-{i}.log") for i in range(workers)]
        for w in running:
            await asyncio.to_thread(w.start)
        started = time.monotonic()
        await declare_incident(url)
        victim = running[0]  # with two workers, the second one is never killed
        in_flight_at_kills: list[int] = []
        for _ in range(kills):
            await asyncio.sleep(rng.uniform(*KILL_AFTER))
            await asyncio.to_thread(victim.kill)
            in_flight_at_kills.append(await in_flight(url, victim.worker_id))
            await asyncio.to_thread(victim.start)
        await _wait_drained(url, smtp, twilio, customers)
        seconds = time.monotonic() - started
        # No worker left to send; the peers' counts are final once they have seen every
        # connection close (a late duplicate would be in them).
        codes = [await asyncio.to_thread(w.stop) for w in running]
        email, sms = await final_stats(smtp, twilio)
        stats = {"email": email, "sms": sms}
        statuses = await outbox_counts(url)
    finally:
        codes = [w.stop() for w in running]
        smtp.stop()
        twilio.stop()
    assert all(code == 0 for code in codes), [w.output() for w in running]
    return CrashRun(
        store=store,
        customers=customers,
        kills=kills,
        seed=seed,
        lost={k: customers - s.distinct for k, s in stats.items()},
        duplicates={k: s.duplicates for k, s in stats.items()},
        in_flight_at_kills=in_flight_at_kills,
        seconds=seconds,
        statuses=statuses,
    )


def _check(run: CrashRun) -> None:
    print(run.report())
    assert run.lost == {"email": 0, "sms": 0}, run.report()
    assert run.statuses == {"sent": 2 * run.customers}, run.report()
    total = sum(run.duplicates.values())
    assert total <= sum(run.in_flight_at_kills), run.report()
    assert total <= run.kills * BATCH * 2, run.report()


async def test_sigkill_one_worker_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    run = await _crash_run("sqlite", url, tmp_path, workers=1, kills=KILLS, customers=CUSTOMERS)
    _check(run)


@pytest.mark.postgres
async def test_sigkill_one_of_two_workers_postgresql(tmp_path: Path) -> None:
    async with postgres_database() as url:
        run = await _crash_run(
            "postgresql",
            url,
            tmp_path,
            workers=2,
            kills=env_int("RELIABILITY_PG_KILLS", KILLS),
            customers=env_int("RELIABILITY_PG_CUSTOMERS", CUSTOMERS),
        )
    _check(run)
