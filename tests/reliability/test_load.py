"""Load: the HTTP API takes a sustained stream of order events from another process, and
the worker keeps up.

`notifier serve --no-worker` in a process of its own, one `notifier worker` process, the
SMTP sink and the Twilio stand-in in processes of their own, and the load generator
(`tests/reliability/load_client.py`) in another: an open loop at a fixed rate, each order
following a legal path (placed, shipped, out for delivery, delayed, delivered), over HTTP
with an API key of the ops role. Meanwhile this process samples the database every second:
the events not yet planned and the messages due and not yet sent (how many, and the age of
the oldest). After the load stops, everything must be sent within a bound.

The rules are the shipped order rules' emails and SMS without `group = true` and without
quiet hours (see RULES): nothing is held on purpose, so every waiting message counts as
lag, and every message is expected at the peers before the end of the test.

Asserted: no answer other than 2xx (a request with no answer within 10 s is an error); at
least 99 % of the offered rate answered a second over the run; the oldest unplanned event
and the oldest due message never older than MAX_LAG at a sample taken during the load;
everything planned and at the peers within DRAIN seconds of the last answer, none lost,
the outbox all `sent`.
Events the generator could not start within 1 s of their due time are not sent (missed):
they count against the rate.

The issue asks 200 events a second for 60 s. SQLite, the embedded default, holds it on
this 2-core machine and runs at 200/s by default. PostgreSQL holds 150/s here and runs at
that by default: its server shares the two cores, and at 200/s the machine is saturated
(one order event costs about 9 ms of CPU through the API, the worker, the peers and the
PostgreSQL server; RELIABILITY.md, part 5). `RELIABILITY_LOAD_RATE=200` runs the issue's
figure on both (PostgreSQL falls about 5 s behind).

Sizes (environment variables):
    RELIABILITY_LOAD_RATE (events a second; default 200 on SQLite, 150 on PostgreSQL)
    RELIABILITY_LOAD_SECONDS (default 60, the issue's figure; shorter for a quick look)
    RELIABILITY_LOAD_WORKERS (`notifier worker` processes, default 1)
    RELIABILITY_LOAD_CUSTOMERS (default 5000)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.peers import Peer
from bench.setup import cpu_seconds
from notifier.services.apikeys import create_key
from notifier.sinks.smtp_sink import free_port
from notifier.sinks.twilio_standin import DEFAULT_SID, DEFAULT_TOKEN
from notifier.store.db import create_engine
from notifier.store.tables import events, outbox
from tests.databases import postgres_database
from tests.reliability.load_client import MISSED
from tests.reliability.procs import (
    NOTIFIER,
    ROOT,
    WorkerProcess,
    clean_env,
    env_int,
    machine,
    outbox_counts,
    prepare_database,
    start_peers,
)

pytestmark = [pytest.mark.slow]

RATES = {"sqlite": 200, "postgresql": 150}  # events a second offered, by store
SECONDS = env_int("RELIABILITY_LOAD_SECONDS", 60)
WORKERS = env_int("RELIABILITY_LOAD_WORKERS", 1)
CUSTOMERS = env_int("RELIABILITY_LOAD_CUSTOMERS", 5000)

# The guarantees.
ISSUE_RATE = 200  # events a second for 60 s: the issue's figure, reported as met or not
# Answered events a second over the stream, at least, as a share of the offered rate.
REQUIRED_SHARE = 0.99
MAX_LAG = 5.0  # seconds: the oldest due message, and the oldest unplanned event, at any sample
DRAIN = 15.0  # seconds after the last answer by which every message is at the peers

# What each event tells the customer (see RULES): channel -> how many.
MESSAGES: dict[str, dict[str, int]] = {
    "placed": {},
    "shipped": {"email": 1},
    "out_for_delivery": {"sms": 1},
    "delayed": {"email": 1, "sms": 1},
    "delivered": {},
}

RULES = """
# rules/orders.toml's rules for these events, without `group = true` and quiet hours.
[[rule]]
name = "order-shipped-email"
on = "order.shipped"
audience = "customer"
channels = ["email"]
template = "order_shipped"

[[rule]]
name = "order-out-for-delivery-sms"
on = "order.out_for_delivery"
audience = "customer"
channels = ["sms"]
template = "order_out_for_delivery"

[[rule]]
name = "order-delayed-email"
on = "order.delayed"
audience = "customer"
channels = ["email"]
template = "order_delayed"

[[rule]]
name = "order-delayed-sms"
on = "order.delayed"
audience = "customer"
channels = ["sms"]
template = "order_delayed"
"""

# Not sent yet and due: counted as lag. Held on purpose (none with RULES): reported apart.
_UNSENT = ["pending", "sending"]
_HELD = ["grouping", "deferred", "standby"]


def write_config(workdir: Path, url: str, smtp: Peer, twilio: Peer) -> Path:
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "orders.toml").write_text(RULES, encoding="utf-8")
    config = workdir / "config.toml"
    config.write_text(
        f"""
operations_email = "ops@example.com"

[database]
url = {json.dumps(url)}

[email]
host = "127.0.0.1"
port = {smtp.port}
from_address = "orders@example.com"
from_name = "Example Co"
pool_size = 8
message_id_domain = "load.local"

[sms]
account_sid = "{DEFAULT_SID}"
auth_token = "{DEFAULT_TOKEN}"
from_number = "+15005550006"
api_base_url = {json.dumps(twilio.base_url)}
concurrency = 16

[grouping]
window = 0

[paths]
rules = {json.dumps(str(rules))}
templates = {json.dumps(str(ROOT / "templates"))}
""",
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # seconds after the load started
    unplanned: int  # events accepted, not planned yet
    unplanned_age: float  # seconds: the oldest of them
    due: int  # messages due and not sent yet (pending or sending)
    due_age: float  # seconds: the oldest of them (since it fell due)
    held: int  # held on purpose (grouping, quiet hours, fallback): not lag
    sent: int
    took: float  # seconds this sample waited for and spent in the database


async def _sample(engine: AsyncEngine, at: float) -> Sample:
    started = time.monotonic()
    now = datetime.now(UTC)

    def age(oldest: datetime | None) -> float:
        return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0

    async with engine.connect() as conn:
        unplanned, oldest_event = (
            await conn.execute(
                select(func.count(), func.min(events.c.occurred_at)).where(
                    events.c.planned_at.is_(None)
                )
            )
        ).one()
        due, oldest_due = (
            await conn.execute(
                select(func.count(), func.min(outbox.c.next_attempt_at)).where(
                    outbox.c.status.in_(_UNSENT), outbox.c.next_attempt_at <= now
                )
            )
        ).one()
        held = (
            await conn.execute(select(func.count()).where(outbox.c.status.in_(_HELD)))
        ).scalar_one()
        sent = (
            await conn.execute(select(func.count()).where(outbox.c.status == "sent"))
        ).scalar_one()
    took = time.monotonic() - started
    return Sample(at, unplanned, age(oldest_event), due, age(oldest_due), held, sent, took)


@dataclass
class LoadRun:
    store: str
    rate: int  # events a second offered
    workers: int
    load_average: tuple[float, float, float]
    planned: int  # events the generator was to send
    results: list[dict[str, Any]]
    samples: list[Sample]
    drained_after: float | None  # seconds from the last answer to all sent; None: never
    recorded: int  # order events in the database at the end
    expected: dict[str, int]  # messages the recorded events call for, by channel
    peers: dict[str, tuple[int, int]]  # channel -> (distinct, duplicates)
    statuses: dict[str, int]
    event_to_sent: list[float]  # seconds, per message: event accepted -> provider accepted
    cpu: dict[str, float]  # process -> CPU seconds (user + system) during the load
    codes: list[int | None] = field(default_factory=list)  # the workers' exit codes
    server: Server | None = None

    @property
    def answered(self) -> list[dict[str, Any]]:
        return [r for r in self.results if 200 <= r["status"] < 300]

    @property
    def missed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] == MISSED]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] != MISSED and not 200 <= r["status"] < 300]

    @property
    def span(self) -> float:
        """Seconds from the first request's start to the last answer."""
        sent = [r for r in self.results if r["status"] != MISSED]
        if not sent:
            return 0.0
        return float(max(r["end"] for r in sent) - min(r["start"] for r in sent))

    @property
    def achieved(self) -> float:
        """Events answered with a 2xx, a second of the stream (`planned / rate` seconds: a
        late answer still counts, if it came within the generator's timeout)."""
        return len(self.answered) / (self.planned / self.rate) if self.planned else 0.0

    @property
    def required(self) -> float:
        return REQUIRED_SHARE * self.rate

    def lost(self) -> dict[str, int]:
        """Expected and not at the peers at the end: lost, if the outbox is drained."""
        return {c: n - self.peers[c][0] for c, n in self.expected.items()}

    def report(self) -> str:
        sent = [r for r in self.results if r["status"] != MISSED]
        latency = sorted(r["end"] - r["start"] for r in sent)
        from_due = sorted(r["end"] - r["due"] for r in sent)
        late = sorted(r["start"] - r["due"] for r in sent)
        by_second: dict[int, int] = {}
        for r in self.answered:
            by_second[int(r["end"])] = by_second.get(int(r["end"]), 0) + 1
        full = [by_second.get(s, 0) for s in range(int(self.span))]  # whole seconds only
        loaded = [s for s in self.samples if s.at <= self.span]
        ignored = sum(1 for r in self.results if r["ignored"])
        lines = [
            f"[load {self.store}] {machine()}; load average at start "
            f"{' '.join(f'{x:.2f}' for x in self.load_average)}; {self.workers} worker "
            f"process(es); {self.planned} events planned at {self.rate}/s for {SECONDS} s "
            f"(the issue's {ISSUE_RATE}/s for 60 s: "
            f"{'offered' if self.rate >= ISSUE_RATE and SECONDS >= 60 else 'NOT offered'})",
            f"  requests: {len(self.answered)} answered 2xx over the "
            f"{self.planned / self.rate:.0f} s stream = {self.achieved:.1f}/s "
            f"(required {self.required:.0f}/s); last answer "
            f"{self.span:.1f} s after the first request; per whole second min "
            f"{min(full, default=0)} max {max(full, default=0)}; errors {len(self.errors)}; "
            f"missed (not sent: > 1 s late) {len(self.missed)}; ignored (repeats) {ignored}; "
            f"events in the database {self.recorded}",
            f"  latency, request start to answer: {_quantiles(latency)}",
            f"  latency, due time to answer (open loop): {_quantiles(from_due)}",
            f"  lateness of the start: {_quantiles(late)}",
            "  CPU during the load: "
            + ", ".join(
                f"{name} {sec:.1f} s ({sec / max(1, self.recorded) * 1000:.2f} ms/event)"
                for name, sec in self.cpu.items()
            ),
            f"  unplanned events: max {max((s.unplanned for s in loaded), default=0)}, oldest "
            f"max {max((s.unplanned_age for s in loaded), default=0):.2f} s",
            f"  outbox due and unsent: max {max((s.due for s in loaded), default=0)}, oldest "
            f"max {max((s.due_age for s in loaded), default=0):.2f} s; held on purpose max "
            f"{max((s.held for s in self.samples), default=0)}; one sample (a read) took max "
            f"{max((s.took for s in loaded), default=0):.2f} s",
            f"  event accepted to provider accepted, per message: "
            f"{_quantiles(sorted(self.event_to_sent))}",
            f"  drained {self.drained_after:.1f} s after the last answer"
            if self.drained_after is not None
            else "  NOT drained",
            f"  server exit code {self.server.code if self.server else None}, tracebacks in "
            f"its log {self.server.errors if self.server else None}; workers' exit codes "
            f"{self.codes}",
            f"  messages expected {self.expected}; at the peers (distinct, duplicates) "
            f"{self.peers}; missing at the end {self.lost()}; outbox {self.statuses}",
        ]
        return "\n".join(lines)

    def timeline(self) -> str:
        return "\n".join(
            f"  t={s.at:5.1f}s unplanned {s.unplanned:5d} ({s.unplanned_age:5.2f} s) "
            f"due {s.due:5d} ({s.due_age:5.2f} s) held {s.held} sent {s.sent} "
            f"(sample took {s.took:.2f} s)"
            for s in self.samples
        )


def _quantiles(values: Sequence[float]) -> str:
    if not values:
        return "none"

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    return (
        f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, "
        f"max {values[-1] * 1000:.1f} ms"
    )


@dataclass
class Server:
    base: str
    pid: int
    log: Path
    code: int | None = None  # the exit code, once stopped
    errors: int = 0  # tracebacks in its log, once stopped


@contextmanager
def _server(config: Path, workdir: Path) -> Iterator[Server]:
    """`notifier serve --no-worker` in a process of its own, stopped with SIGTERM."""
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [*NOTIFIER, "--config", str(config), "serve", "--no-worker", "--port", str(port)],
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    server = Server(base, process.pid, workdir / "serve.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "serve.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server.code = process.returncode
        server.errors = server.log.read_text(errors="replace").count("Traceback")


@asynccontextmanager
async def _workers(
    config: Path, workdir: Path, count: int
) -> AsyncIterator[tuple[list[int | None], list[int]]]:
    """`count` `notifier worker` processes; yields (their exit codes, filled at the end;
    their pids)."""
    running = [WorkerProcess(config, workdir / f"worker-{i}.log") for i in range(count)]
    codes: list[int | None] = []
    try:
        for w in running:
            await asyncio.to_thread(w.start)
        yield codes, [w.process.pid for w in running if w.process and w.process.pid]
    finally:
        codes.extend([await asyncio.to_thread(w.stop) for w in running])


async def _load(
    base: str, key: str, workdir: Path, rate: int
) -> tuple[int, list[dict[str, Any]], float]:
    """The generator in a process of its own; (events planned, one record per event, its
    CPU seconds)."""
    out = workdir / "load.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reliability.load_client",
        "--base-url",
        base,
        "--rate",
        str(rate),
        "--seconds",
        str(SECONDS),
        "--customers",
        str(CUSTOMERS),
        "--out",
        str(out),
        cwd=ROOT,
        env={**clean_env(), "LOAD_API_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")
    data = json.loads(out.read_text(encoding="utf-8"))
    return int(data["planned"]), list(data["results"]), float(data["cpu_seconds"])


async def _recorded(engine: AsyncEngine) -> dict[str, int]:
    """Order events in the database, by the status they moved to."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.to_status, func.count())
            .where(events.c.subject_type == "order")
            .group_by(events.c.to_status)
        )
        return {str(status): int(count) for status, count in rows.all()}


async def _event_to_sent(engine: AsyncEngine) -> list[float]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.sent_at, events.c.occurred_at)
            .join(events, events.c.id == outbox.c.event_id)
            .where(outbox.c.status == "sent")
        )
        return [(sent - occurred).total_seconds() for sent, occurred in rows.all()]


def _rate(store: str) -> int:
    return env_int("RELIABILITY_LOAD_RATE", RATES[store])


async def _load_run(store: str, url: str, workdir: Path, *, workers: int) -> LoadRun:
    rate = _rate(store)
    load_average = os.getloadavg()
    await prepare_database(url, CUSTOMERS)
    engine = create_engine(url)
    smtp, twilio = start_peers()
    try:
        _, key = await create_key(engine, name="load test", role="ops", now=datetime.now(UTC))
        config = write_config(workdir, url, smtp, twilio)
        samples: list[Sample] = []
        async with _workers(config, workdir, workers) as (codes, worker_pids):
            with _server(config, workdir) as server:
                pids = {
                    "server": server.pid,
                    **{f"worker {i + 1}": pid for i, pid in enumerate(worker_pids)},
                    "smtp peer": smtp.pid,
                    "twilio peer": twilio.pid,
                }
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                t0 = time.monotonic()
                loading = asyncio.create_task(_load(server.base, key, workdir, rate))
                while not loading.done():
                    samples.append(await _sample(engine, time.monotonic() - t0))
                    await asyncio.wait({loading}, timeout=1.0)
                planned, results, client_cpu = await loading
                cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                cpu["load generator"] = client_cpu
            # The server is stopped: what it committed is all in the database, including
            # events whose answer came too late for the generator (counted as errors).
            ended = t0 + max((r["end"] for r in results), default=0.0)
            recorded = await _recorded(engine)
            expected: dict[str, int] = {"email": 0, "sms": 0}
            for status, count in recorded.items():
                for channel, n in MESSAGES[status].items():
                    expected[channel] += n * count
            drained_after: float | None = None
            while True:  # looked at least once, even if stopping the server took DRAIN
                sample = await _sample(engine, time.monotonic() - t0)
                samples.append(sample)
                if (
                    sample.unplanned == 0
                    and sample.due == 0
                    and smtp.stats().distinct >= expected["email"]
                    and twilio.stats().distinct >= expected["sms"]
                ):
                    drained_after = time.monotonic() - ended
                    break
                if time.monotonic() >= ended + DRAIN:
                    break
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)  # a late duplicate would arrive now
        peers = {
            "email": (smtp.stats().distinct, smtp.stats().duplicates),
            "sms": (twilio.stats().distinct, twilio.stats().duplicates),
        }
        statuses = await outbox_counts(url)
        event_to_sent = await _event_to_sent(engine)
    finally:
        await engine.dispose()
        smtp.stop()
        twilio.stop()
    return LoadRun(
        store=store,
        rate=rate,
        workers=workers,
        load_average=load_average,
        planned=planned,
        results=results,
        samples=samples,
        drained_after=drained_after,
        recorded=sum(recorded.values()),
        expected=expected,
        peers=peers,
        statuses=statuses,
        event_to_sent=event_to_sent,
        cpu=cpu,
        codes=codes,
        server=server,
    )


def _check(run: LoadRun) -> None:
    report = run.report()
    print()
    print(report)
    if os.environ.get("RELIABILITY_LOAD_TIMELINE"):
        print(run.timeline())
    assert len(run.results) == run.planned, report
    assert run.errors == [], (report, run.errors[:5])
    assert run.achieved >= run.required, report
    assert run.recorded == sum(1 for r in run.answered if not r["ignored"]), report
    loaded = [s for s in run.samples if s.at <= run.span]
    assert max(s.unplanned_age for s in loaded) <= MAX_LAG, (report, run.timeline())
    assert max(s.due_age for s in loaded) <= MAX_LAG, (report, run.timeline())
    assert run.drained_after is not None, (report, run.timeline())
    assert run.lost() == {"email": 0, "sms": 0}, report
    assert run.statuses == {"sent": sum(run.expected.values())}, report
    assert run.server is not None
    server_log = run.server.log.read_text(errors="replace")[-3000:]
    assert (run.server.code, run.server.errors) == (0, 0), (report, server_log)
    assert run.codes == [0] * run.workers, run.codes


async def test_order_events_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'load.db'}"
    _check(await _load_run("sqlite", url, tmp_path, workers=WORKERS))


@pytest.mark.postgres
async def test_order_events_postgresql(tmp_path: Path) -> None:
    async with postgres_database() as url:
        run = await _load_run("postgresql", url, tmp_path, workers=WORKERS)
    _check(run)
