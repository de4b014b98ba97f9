"""Database outage: PostgreSQL stopped for several seconds and started again, for real.

The server is a private one (`private_pg`), never the machine's shared server. Three
checks:

- a `notifier worker` process fanning an incident out (email and SMS, to peers in other
  processes) while the server is stopped and started: it stays up, says so in its log,
  resumes on its own, and the peers count no message lost and none twice;
- a worker started while the server is down waits for it, then works;
- the HTTP API during the outage: every call (writes and reads) is 503 with a JSON
  detail, never a 500 or a traceback; an import cut by the outage leaves nothing behind;
  after the restart the same calls succeed.

Sizes: RELIABILITY_OUTAGE_CUSTOMERS (default 1500), RELIABILITY_OUTAGE_SECONDS (default 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest

from bench.peers import Peer
from notifier.api.errors import UNAVAILABLE
from tests.api.conftest import ApiEnv, api_environment
from tests.reliability.private_pg import PrivatePostgres, private_postgres
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

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CUSTOMERS = env_int("RELIABILITY_OUTAGE_CUSTOMERS", 1500)
OUTAGE = float(env_int("RELIABILITY_OUTAGE_SECONDS", 6))
BATCH = 100
LEASE = 120.0  # seconds: far longer than the outage on any machine: no claim runs out in it
WAITING = "database unavailable, waiting for it"  # what the worker logs in an outage
STOP_AT = 0.25  # the server is stopped once this share of the messages has arrived
# Seconds: only turns a hang into a failure; how long draining took is reported, not judged.
DRAIN_WITHIN = 300.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def module_peers() -> Iterator[tuple[Peer, Peer]]:
    smtp, twilio = start_peers()
    try:
        yield smtp, twilio
    finally:
        smtp.stop()
        twilio.stop()


@pytest.fixture
def peers(module_peers: tuple[Peer, Peer]) -> tuple[Peer, Peer]:
    """The SMTP sink and the Twilio stand-in (processes of their own), counting from zero."""
    for peer in module_peers:
        peer.reset()
    return module_peers


@pytest.fixture
def pg(cluster: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The private server, running again after each test whatever happened in it."""
    yield cluster
    if not cluster.running():
        cluster.start()


async def new_database(server: PrivatePostgres) -> str:
    name = f"outage_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server.dsn(), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def count_rows(server: PrivatePostgres, database: str, tables: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(server.dsn(database), timeout=10)
    try:
        return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}
    finally:
        await conn.close()


def accepted(smtp: Peer, twilio: Peer) -> int:
    return smtp.stats().accepted + twilio.stats().accepted


# -- the worker ------------------------------------------------------------------------------


@dataclass
class WorkerOutage:
    mode: str
    customers: int
    outage: float  # seconds from the stop (server gone) to the start (accepting again)
    stop_seconds: float  # what `pg_ctl stop` took
    start_seconds: float  # what `pg_ctl start` took
    arrived_before: int  # messages at the peers when the server was stopped
    arrived_during: int  # messages that reached the peers while it was down
    claimed: int  # rows in `sending` just before the stop: what was in flight
    fanout_interrupted: bool  # the outage cut the fan-out itself, not only the sending
    # Seconds from the restart to the worker's first write: an outcome recorded (`sent`)
    # and, if the outage cut the fan-out, the first message it planned after it.
    resumed: dict[str, float | None]
    drained_after: float  # seconds from the restart to everything sent
    total: float  # seconds from the declaration to everything sent
    lost: dict[str, int]
    duplicates: dict[str, int]
    statuses: dict[str, int]
    outage_lines: int  # warnings the worker logged about the database
    alive: bool

    def report(self) -> str:
        return (
            f"[outage worker, stop -m {self.mode}] {machine()}; PostgreSQL (private server) "
            f"down {self.outage:.1f} s while {self.customers} customers x 2 channels = "
            f"{2 * self.customers} messages went out ({self.arrived_before} arrived before "
            f"the stop, {self.arrived_during} during it; {self.claimed} claimed at the stop; "
            f"fan-out interrupted: {self.fanout_interrupted}); pg_ctl stop "
            f"{self.stop_seconds:.2f} s, start {self.start_seconds:.2f} s; after the restart "
            f"first outcome recorded {_seconds(self.resumed['recorded'])}, first message "
            f"planned {_seconds(self.resumed['planned'])}; drained "
            f"{self.drained_after:.1f} s after the restart "
            f"({self.total:.1f} s from declare); lost email {self.lost['email']} sms "
            f"{self.lost['sms']}; duplicates email {self.duplicates['email']} sms "
            f"{self.duplicates['sms']}; outbox {self.statuses}; worker alive {self.alive}, "
            f"{self.outage_lines} database warnings in its log"
        )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


async def _resumed(server: PrivatePostgres, database: str, up: datetime) -> dict[str, float | None]:
    """When the worker wrote again after the restart at `up`, read from the rows' own times
    (the worker's clock is this machine's): the first outcome recorded, the first row
    planned."""
    conn = await asyncpg.connect(server.dsn(database), timeout=10)
    try:
        recorded = await conn.fetchval(
            "SELECT min(updated_at) FROM outbox WHERE status = 'sent' AND updated_at >= $1", up
        )
        planned = await conn.fetchval(
            "SELECT min(created_at) FROM outbox WHERE created_at >= $1", up
        )
    finally:
        await conn.close()
    return {
        "recorded": None if recorded is None else (recorded - up).total_seconds(),
        "planned": None if planned is None else (planned - up).total_seconds(),
    }


def database_warnings(log: str) -> int:
    return sum(1 for line in log.splitlines() if "database" in line.lower())


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_worker_waits_out_a_database_outage(
    pg: PrivatePostgres, peers: tuple[Peer, Peer], tmp_path: Path, mode: str
) -> None:
    """`pg_ctl stop -m fast` (what a service stop does: transactions aborted, connections
    cut) and `-m immediate` (as if the server crashed: recovery at the next start)."""
    database = await new_database(pg)
    url = pg.url(database)
    smtp, twilio = peers
    worker: WorkerProcess | None = None
    code: int | None = None
    try:
        await prepare_database(url, CUSTOMERS)
        config = write_config(
            tmp_path, url, smtp.port, twilio.base_url, batch_size=BATCH, lease_seconds=LEASE
        )
        worker = WorkerProcess(config, tmp_path / "worker.log")
        await asyncio.to_thread(worker.start)
        began = time.monotonic()
        await declare_incident(url)
        total = 2 * CUSTOMERS
        await wait_for(
            lambda: accepted(smtp, twilio) >= STOP_AT * total,
            what=lambda: f"{STOP_AT:.0%} of the messages at the peers\n{worker.output()}",
        )
        before = accepted(smtp, twilio)
        claimed = await in_flight(url, None)
        stop_seconds = await asyncio.to_thread(pg.stop, mode)
        down_at = time.monotonic()
        at_stop = accepted(smtp, twilio)
        # The stimulus: the server stays down OUTAGE seconds; the worker must notice it.
        await asyncio.sleep(OUTAGE)
        await wait_for(
            lambda: WAITING in worker.output(),
            what=lambda: f"the worker to say it waits for the database\n{worker.output()}",
        )
        assert worker.process is not None
        alive_in_outage = worker.process.is_alive()
        at_restart = accepted(smtp, twilio)
        start_seconds = await asyncio.to_thread(pg.start)
        up_at, up_wall = time.monotonic(), datetime.now(UTC)
        outage = up_at - down_at
        assert alive_in_outage, worker.output()

        async def drained() -> bool:
            statuses = await outbox_counts(url)
            return (
                statuses.get("sent", 0) >= total
                and smtp.stats().distinct >= CUSTOMERS
                and twilio.stats().distinct >= CUSTOMERS
            )

        await wait_for(
            drained,
            what=lambda: f"all {total} messages sent and at the peers\n{worker.output()}",
            within=DRAIN_WITHIN,
            interval=0.1,
        )
        finished = time.monotonic()
        drained_after = finished - up_at
        alive = alive_in_outage and worker.process.is_alive()
        # No sender left; the peers' counts are final once every connection has closed.
        code = await asyncio.to_thread(worker.stop)
        email, sms = await final_stats(smtp, twilio)
        stats = {"email": email, "sms": sms}
        statuses = await outbox_counts(url)
        resumed = await _resumed(pg, database, up_wall)
    finally:
        if worker is not None:
            code = worker.stop()
    log = worker.output()
    run = WorkerOutage(
        mode=mode,
        customers=CUSTOMERS,
        outage=outage,
        stop_seconds=stop_seconds,
        start_seconds=start_seconds,
        arrived_before=before,
        arrived_during=at_restart - at_stop,
        claimed=claimed,
        fanout_interrupted="(1 interrupted event(s) given back)" in log,
        resumed=resumed,
        drained_after=drained_after,
        total=finished - began,
        lost={k: CUSTOMERS - s.distinct for k, s in stats.items()},
        duplicates={k: s.duplicates for k, s in stats.items()},
        statuses=statuses,
        outage_lines=database_warnings(log),
        alive=alive,
    )
    print(f"\n{run.report()}")
    assert alive, log
    assert code == 0, log
    assert run.lost == {"email": 0, "sms": 0}, run.report()
    assert run.statuses == {"sent": total}, run.report()
    duplicates = sum(run.duplicates.values())
    assert duplicates <= run.claimed, run.report()  # at most what was in flight
    if OUTAGE < LEASE:  # no claim could run out while the server was down: none twice
        assert duplicates == 0, run.report()
    assert WAITING in log, log
    # It resumed on its own: an outcome recorded after the restart (how soon: the report).
    assert run.resumed["recorded"] is not None, run.report()
    assert "Traceback" not in log, log
    # The outage is logged in one line per error: never the statement or its parameters
    # (recipients, message bodies).
    assert "[SQL:" not in log and "[parameters:" not in log, log


async def test_worker_started_during_the_outage_waits(
    pg: PrivatePostgres, peers: tuple[Peer, Peer], tmp_path: Path
) -> None:
    customers = 200
    database = await new_database(pg)
    url = pg.url(database)
    smtp, twilio = peers
    worker: WorkerProcess | None = None
    code: int | None = None
    try:
        await prepare_database(url, customers)
        config = write_config(
            tmp_path, url, smtp.port, twilio.base_url, batch_size=BATCH, lease_seconds=LEASE
        )
        await asyncio.to_thread(pg.stop, "fast")
        down_at = time.monotonic()
        worker = WorkerProcess(config, tmp_path / "worker.log")
        worker.log.write_bytes(b"")
        starting = asyncio.create_task(asyncio.to_thread(worker.start))
        await wait_for(
            lambda: WAITING in worker.output(),
            what=lambda: f"the worker to say it waits for the database\n{worker.output()}",
        )
        # The stimulus: the outage goes on after it said so; a worker that gave up would
        # exit meanwhile. That it waited is shown below by the same process going on to run.
        await asyncio.sleep(2.0)
        assert worker.process is not None
        waiting_alive, waiting_pid = worker.process.is_alive(), worker.process.pid
        waiting_log = worker.output()
        down_for = time.monotonic() - down_at
        await asyncio.to_thread(pg.start)
        up_at = time.monotonic()
        await starting
        running_after = time.monotonic() - up_at
        await declare_incident(url)

        async def drained() -> bool:
            statuses = await outbox_counts(url)
            return statuses.get("sent", 0) >= 2 * customers

        declared = time.monotonic()
        await wait_for(
            drained,
            what=lambda: f"all {2 * customers} messages sent\n{worker.output()}",
            within=DRAIN_WITHIN,
            interval=0.1,
        )
        drained_after = time.monotonic() - declared
        pid = worker.process.pid
        code = await asyncio.to_thread(worker.stop)
        email, sms = await final_stats(smtp, twilio)
        stats = {"email": email, "sms": sms}
        statuses = await outbox_counts(url)
    finally:
        if worker is not None:
            code = worker.stop()
            with contextlib.suppress(RuntimeError):  # it exited before saying it runs
                await starting
    print(
        f"\n[outage worker start] a worker started with the server down: said it waits; "
        f"alive {waiting_alive} {down_for:.1f} s after the stop; running "
        f"{running_after:.2f} s after the server started; "
        f"{2 * customers} messages sent {drained_after:.2f} s after the declaration; lost "
        f"email {customers - stats['email'].distinct} sms {customers - stats['sms'].distinct}"
        f"; duplicates email {stats['email'].duplicates} sms {stats['sms'].duplicates}"
    )
    assert waiting_alive, waiting_log
    assert pid == waiting_pid, "the worker that waited is the one that ran"
    assert "Traceback" not in worker.output(), worker.output()
    assert statuses == {"sent": 2 * customers}
    assert {k: s.distinct for k, s in stats.items()} == {"email": customers, "sms": customers}
    assert {k: s.duplicates for k, s in stats.items()} == {"email": 0, "sms": 0}
    assert code == 0, worker.output()


# -- the HTTP API ----------------------------------------------------------------------------

IMPORT_SIZE = 5000  # customers in the import the outage cuts (5 service batches of 1,000)


def _customers(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}-{i:05d}",
            "name": f"Customer {i}",
            "email": f"{prefix}-{i}@example.com",
            "phone": f"+1202555{i:04d}",
            "services": ["outage-api"],
        }
        for i in range(count)
    ]


async def _tables(server: PrivatePostgres, database: str) -> list[str]:
    conn = await asyncpg.connect(server.dsn(database), timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    finally:
        await conn.close()
    return [str(r["tablename"]) for r in rows]


async def _cut_import(
    env: ApiEnv, server: PrivatePostgres, database: str, before: int, half: float
) -> tuple[httpx.Response, float, str]:
    """POST an import of IMPORT_SIZE customers and stop the server while it runs: once
    `half` seconds have passed and its transaction has written (or once a part of it has
    been committed, which must not happen). The response, when the server stopped (s after
    the request), and what triggered the stop."""
    watcher = await asyncpg.connect(server.dsn(database), timeout=10)
    began = time.monotonic()
    async with await env.client("admin") as c:
        request = asyncio.create_task(
            c.post("/api/customers/import", json={"customers": _customers("cut", IMPORT_SIZE)})
        )
        trigger = "none: the request ended first"
        try:
            while not request.done():
                committed = await watcher.fetchval("SELECT count(*) FROM customers") - before
                writing = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
                    database,
                )
                if committed:
                    trigger = f"{committed} rows committed"
                    break
                if writing and time.monotonic() - began >= half:
                    trigger = "its transaction was writing"
                    break
                await asyncio.sleep(0.01)
        finally:
            await watcher.close()
        cut_at = time.monotonic() - began
        await asyncio.to_thread(server.stop, "fast")
        response = await request
    return response, cut_at, trigger


async def test_api_answers_503_and_writes_nothing_during_an_outage(
    pg: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    database = await new_database(pg)
    url = pg.url(database)
    async with api_environment(url) as env:
        async with await env.client("admin") as c:  # the key exists before the outage
            seeded = await c.post(
                "/api/customers/import", json={"customers": _customers("seed", 10)}
            )
            assert seeded.status_code == 200, seeded.text
            assert seeded.json()["created"] == 10, seeded.text
            # How long an import of IMPORT_SIZE takes here: the cut comes half-way.
            began = time.monotonic()
            warm = await c.post(
                "/api/customers/import", json={"customers": _customers("warm", IMPORT_SIZE)}
            )
            import_seconds = time.monotonic() - began
            assert warm.json()["created"] == IMPORT_SIZE, warm.text
        tables = await _tables(pg, database)
        before = await count_rows(pg, database, tables)

        # 1. An import cut by the outage: all of it or nothing, and a 503.
        caplog.clear()
        cut, cut_at, trigger = await _cut_import(
            env, pg, database, before["customers"], import_seconds / 2
        )
        down_at = time.monotonic()

        # 2. While the server is down: writes and reads.
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", "/api/incidents", {"title": "t", "severity": "minor", "affects": ["x"]}),
            ("POST", "/api/orders/o-1/events", {"status": "placed", "customer_id": "seed-00001"}),
            ("POST", "/api/customers", {"id": "new-1", "name": "New"}),
            ("POST", "/api/customers/import", {"customers": _customers("down", 10)}),
            ("PATCH", "/api/customers/seed-00002", {"name": "Renamed"}),
            ("GET", "/api/incidents", None),
            ("GET", "/api/customers/seed-00001", None),
            ("GET", "/healthz", None),
        ]
        during: dict[str, int] = {}
        slowest = 0.0
        async with await env.client("admin") as c:
            for method, path, body in calls:
                began = time.monotonic()
                response = await c.request(method, path, json=body)
                slowest = max(slowest, time.monotonic() - began)
                during[f"{method} {path}"] = response.status_code
                assert response.status_code == 503, (method, path, response.text)
                assert "Traceback" not in response.text
                if path != "/healthz":
                    assert response.json() == {"detail": UNAVAILABLE}, response.text
                    assert response.headers["Retry-After"] == "5"
        unavailable_logged = "\n".join(r.getMessage() for r in caplog.records)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        # The stimulus: the outage lasts at least 3 s, so the pool's connections are all
        # dead by the restart (the check is what the calls answer after it, not when).
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))
        await asyncio.to_thread(pg.start)
        outage = time.monotonic() - down_at

        # 3. Nothing half-written: every table as before (or the whole import, if its
        # commit came before the stop).
        after = await count_rows(pg, database, tables)
        expected = dict(before)
        if cut.status_code == 200:
            expected["customers"] += IMPORT_SIZE
        changed = {t: (before[t], after[t]) for t in tables if before[t] != after[t]}

        # 4. After the restart the same calls succeed, the first one at once.
        after_restart: dict[str, int] = {}
        async with await env.client("admin") as c:
            for method, path, body in calls:
                response = await c.request(method, path, json=body)
                after_restart[f"{method} {path}"] = response.status_code
            again = await c.post(
                "/api/customers/import", json={"customers": _customers("cut", IMPORT_SIZE)}
            )
        final = await count_rows(pg, database, ["customers"])

    print(
        f"\n[outage api] import of {IMPORT_SIZE} customers ({import_seconds:.2f} s uncut) cut "
        f"{cut_at:.2f} s in ({trigger}): HTTP {cut.status_code}; outage {outage:.1f} s; "
        f"during it {during} (slowest {slowest * 1000:.0f} ms); rows changed by the failed "
        f"calls {changed or 'none'}; after the restart {after_restart}; the cut import "
        f"again: HTTP {again.status_code}, {again.json().get('created')} created"
    )
    assert cut.status_code in (200, 503), cut.text
    assert "Traceback" not in cut.text
    if cut.status_code == 503:
        assert cut.json() == {"detail": UNAVAILABLE}
    assert after == expected, changed
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in unavailable_logged
    assert all(code < 300 for code in after_restart.values()), after_restart
    assert again.status_code == 200, again.text
    assert final["customers"] == before["customers"] + IMPORT_SIZE + 10 + 1
