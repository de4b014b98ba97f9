"""The HTTP API under a sustained stream of order events, and the worker behind it.

`notifier serve --no-worker` in a process of its own, `notifier worker` processes, the SMTP
sink and the Twilio stand-in in processes of their own, and the load generator
(`bench/load_client.py`) in another: an open loop at a fixed rate, each order following a
legal path (placed, shipped, out for delivery, delayed, delivered), over HTTP with an API
key of the ops role. Meanwhile this process samples the database every second: the events
not yet planned and the messages due and not yet sent (how many, and the age of the
oldest). When the stream ends, the server stops and the run waits until every message is
at the peers; then the workers stop and the peers' counts are read once they are final.

The rules are the shipped order rules' emails and SMS without `group = true` and without
quiet hours (RULES): nothing is held on purpose, so every waiting message counts as lag.

Two users of one run: `python -m bench load` prints the figures (requests a second
answered, latency quantiles, planning lag, drain time, errors); the correctness test
(tests/reliability/test_load.py) checks that nothing was lost or recorded twice and never
judges a figure.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.load_client import MISSED
from bench.peers import Peer, PeerStats
from bench.setup import NOTIFIER, ROOT, cpu_seconds, notifier_env, seed_customers
from notifier.services.apikeys import create_key
from notifier.sinks.smtp_sink import free_port
from notifier.sinks.twilio_standin import DEFAULT_SID, DEFAULT_TOKEN
from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from notifier.store.tables import events, outbox

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


@dataclass(frozen=True)
class LoadOptions:
    store: str  # "sqlite" or "postgresql", for the report
    rate: float  # events a second offered
    seconds: float  # of the stream
    customers: int
    workers: int = 1
    miss_after: float = 1.0  # seconds late at which the generator drops an event (inf: never)
    request_timeout: float = 10.0  # seconds, per request
    max_in_flight: int = 256  # the server's admission limit (api.max_in_flight)
    drain_within: float = 600.0  # seconds after the stream to wait for every message


def write_config(
    workdir: Path, url: str, smtp: Peer, twilio: Peer, *, max_in_flight: int = 256
) -> Path:
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "orders.toml").write_text(RULES, encoding="utf-8")
    config = workdir / "config.toml"
    config.write_text(
        f"""
operations_email = "ops@example.com"

[database]
url = {json.dumps(url)}

[api]
max_in_flight = {max_in_flight}

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


async def sample(engine: AsyncEngine, at: float) -> Sample:
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
class Server:
    base: str
    pid: int
    log: Path
    code: int | None = None  # the exit code, once stopped
    errors: int = 0  # tracebacks in its log, once stopped


@contextmanager
def serve(config: Path, workdir: Path, *, start_within: float = 120.0) -> Iterator[Server]:
    """`notifier serve --no-worker` in a process of its own, stopped with SIGTERM."""
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [*NOTIFIER, "serve", "--no-worker", "--port", str(port)],
        env=notifier_env(config),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    server = Server(base, process.pid, workdir / "serve.log")
    try:
        deadline = time.monotonic() + start_within
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the server did not answer /healthz:\n"
                    + (workdir / "serve.log").read_text(errors="replace")
                )
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server.code = process.returncode
        server.errors = server.log.read_text(errors="replace").count("Traceback")


@contextmanager
def _workers(
    config: Path, workdir: Path, count: int, *, start_within: float = 120.0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` `notifier worker` processes, each logging to a file of its own (a pipe
    nobody reads would stall a worker that logs much); stopped with SIGTERM at the end."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for i in range(count):
            log = workdir / f"worker-{i}.log"
            with log.open("wb") as out:
                started.append(
                    subprocess.Popen(
                        [*NOTIFIER, "worker"],
                        env=notifier_env(config),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            logs.append(log)
        deadline = time.monotonic() + start_within
        for process, log in zip(started, logs, strict=True):
            while "running" not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{log.read_text()}")
                time.sleep(0.05)
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class LoadRun:
    options: LoadOptions
    load_average: tuple[float, float, float]
    planned: int  # events the generator was to send
    results: list[dict[str, Any]]
    samples: list[Sample]
    drained_after: float | None  # seconds from the last answer to all sent; None: never
    recorded: dict[str, int]  # order events in the database at the end, by status
    repeated: int  # (order, status) pairs recorded more than once
    unplanned: int  # events never planned, at the end
    expected: dict[str, int]  # messages the recorded events call for, by channel
    outbox_rows: dict[str, int]  # outbox rows, by channel
    peers: dict[str, PeerStats]  # by channel, read once final
    statuses: dict[str, int]  # outbox rows, by status
    event_to_sent: list[float]  # seconds, per message: event accepted -> provider accepted
    cpu: dict[str, float]  # process -> CPU seconds (user + system) during the stream
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
    def ignored(self) -> list[dict[str, Any]]:
        return [r for r in self.answered if r["ignored"]]

    @property
    def busy_retries(self) -> int:
        return sum(int(r.get("busy_retries", 0)) for r in self.results)

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
        rate = self.options.rate
        return len(self.answered) / (self.planned / rate) if self.planned else 0.0

    def lost(self) -> dict[str, int]:
        """Expected and not at the peers at the end."""
        return {c: n - self.peers[c].distinct for c, n in self.expected.items()}

    def report(self) -> str:
        o = self.options
        sent = [r for r in self.results if r["status"] != MISSED]
        latency = sorted(r["end"] - r["start"] for r in sent)
        from_due = sorted(r["end"] - r["due"] for r in sent)
        late = sorted(r["start"] - r["due"] for r in sent)
        by_second: dict[int, int] = {}
        for r in self.answered:
            by_second[int(r["end"])] = by_second.get(int(r["end"]), 0) + 1
        full = [by_second.get(s, 0) for s in range(int(self.span))]  # whole seconds only
        loaded = [s for s in self.samples if s.at <= self.span]
        server = self.server
        lines = [
            f"[load {o.store}] {o.workers} worker process(es); {self.planned} events planned "
            f"at {o.rate:g}/s for {o.seconds:g} s; {o.customers} customers; "
            f"api.max_in_flight {o.max_in_flight}; load average at start "
            f"{' '.join(f'{x:.2f}' for x in self.load_average)}",
            f"  requests: {len(self.answered)} answered 2xx over the "
            f"{self.planned / o.rate:.0f} s stream = {self.achieved:.1f}/s; last answer "
            f"{self.span:.1f} s after the first request; per whole second min "
            f"{min(full, default=0)} max {max(full, default=0)}; errors {len(self.errors)}; "
            f"missed (not sent: > {o.miss_after:g} s late) {len(self.missed)}; admission "
            f"503s retried {self.busy_retries}; ignored (repeats) {len(self.ignored)}",
            f"  latency, request start to answer: {quantiles(latency)}",
            f"  latency, due time to answer (open loop): {quantiles(from_due)}",
            f"  lateness of the start: {quantiles(late)}",
            "  CPU during the stream: "
            + ", ".join(
                f"{name} {sec:.1f} s "
                f"({sec / max(1, sum(self.recorded.values())) * 1000:.2f} ms/event)"
                for name, sec in self.cpu.items()
            ),
            f"  planning lag (oldest unplanned event at a sample during the stream): max "
            f"{max((s.unplanned_age for s in loaded), default=0):.2f} s; unplanned at once max "
            f"{max((s.unplanned for s in loaded), default=0)}",
            f"  sending lag (oldest due, unsent message at a sample): max "
            f"{max((s.due_age for s in loaded), default=0):.2f} s; due at once max "
            f"{max((s.due for s in loaded), default=0)}; held on purpose max "
            f"{max((s.held for s in self.samples), default=0)}; one sample (a read) took max "
            f"{max((s.took for s in loaded), default=0):.2f} s",
            f"  event accepted to provider accepted, per message: "
            f"{quantiles(sorted(self.event_to_sent))}",
            f"  drained {self.drained_after:.1f} s after the last answer"
            if self.drained_after is not None
            else f"  NOT drained within {o.drain_within:g} s of the last answer",
            f"  events recorded {sum(self.recorded.values())} {self.recorded}, recorded twice "
            f"{self.repeated}, never planned {self.unplanned}",
            f"  messages expected {self.expected}; outbox rows {self.outbox_rows} "
            f"{self.statuses}; at the peers (distinct, duplicates) "
            f"{ {c: (s.distinct, s.duplicates) for c, s in self.peers.items()} }; "
            f"missing {self.lost()}",
            f"  server exit code {server.code if server else None}, tracebacks in its log "
            f"{server.errors if server else None}; workers' exit codes {self.codes}",
        ]
        return "\n".join(lines)

    def timeline(self) -> str:
        return "\n".join(
            f"  t={s.at:5.1f}s unplanned {s.unplanned:5d} ({s.unplanned_age:5.2f} s) "
            f"due {s.due:5d} ({s.due_age:5.2f} s) held {s.held} sent {s.sent} "
            f"(sample took {s.took:.2f} s)"
            for s in self.samples
        )


def quantiles(values: Sequence[float]) -> str:
    if not values:
        return "none"

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    return (
        f"p50 {at(0.5):.1f} ms, p95 {at(0.95):.1f} ms, p99 {at(0.99):.1f} ms, "
        f"max {values[-1] * 1000:.1f} ms"
    )


async def _generate(
    base: str, key: str, workdir: Path, options: LoadOptions
) -> tuple[int, list[dict[str, Any]], float]:
    """The generator in a process of its own; (events planned, one record per event, its
    CPU seconds)."""
    out = workdir / "load.json"
    miss_after = "inf" if math.isinf(options.miss_after) else str(options.miss_after)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load_client",
        "--base-url",
        base,
        "--rate",
        str(options.rate),
        "--seconds",
        str(options.seconds),
        "--customers",
        str(options.customers),
        "--miss-after",
        miss_after,
        "--timeout",
        str(options.request_timeout),
        "--out",
        str(out),
        cwd=ROOT,
        env={**os.environ, "LOAD_API_KEY": key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{output.decode(errors='replace')}")
    data = json.loads(out.read_text(encoding="utf-8"))
    return int(data["planned"]), list(data["results"]), float(data["cpu_seconds"])


async def _recorded(engine: AsyncEngine) -> tuple[dict[str, int], int, int]:
    """Order events in the database by the status they moved to; how many (order, status)
    pairs are there more than once; how many events were never planned."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.to_status, func.count())
            .where(events.c.subject_type == "order")
            .group_by(events.c.to_status)
        )
        by_status = {str(status): int(count) for status, count in rows.all()}
        twice = (
            select(events.c.subject_id, events.c.to_status)
            .where(events.c.subject_type == "order")
            .group_by(events.c.subject_id, events.c.to_status)
            .having(func.count() > 1)
            .subquery()
        )
        repeated = int((await conn.execute(select(func.count()).select_from(twice))).scalar_one())
        unplanned = int(
            (
                await conn.execute(select(func.count()).where(events.c.planned_at.is_(None)))
            ).scalar_one()
        )
    return by_status, repeated, unplanned


async def _outbox(engine: AsyncEngine) -> tuple[dict[str, int], dict[str, int]]:
    async with engine.connect() as conn:
        channels = await conn.execute(
            select(outbox.c.channel, func.count()).group_by(outbox.c.channel)
        )
        by_channel = {str(c): int(n) for c, n in channels.all()}
        statuses = await conn.execute(
            select(outbox.c.status, func.count()).group_by(outbox.c.status)
        )
        by_status = {str(s): int(n) for s, n in statuses.all()}
    return by_channel, by_status


async def _event_to_sent(engine: AsyncEngine) -> list[float]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.sent_at, events.c.occurred_at)
            .join(events, events.c.id == outbox.c.event_id)
            .where(outbox.c.status == "sent")
        )
        return [(sent - occurred).total_seconds() for sent, occurred in rows.all()]


def expected_messages(recorded: dict[str, int]) -> dict[str, int]:
    expected = {"email": 0, "sms": 0}
    for status, count in recorded.items():
        for channel, n in MESSAGES.get(status, {}).items():
            expected[channel] += n * count
    return expected


async def quiet_stats(*peers: Peer, within: float = 120.0) -> list[PeerStats]:
    """The peers' counts once nothing more can arrive: call it after every sender stopped.
    A peer that has seen all its connections close has counted all that was sent to it."""
    deadline = time.monotonic() + within
    while True:
        busy = await asyncio.to_thread(lambda: [p.open_connections() for p in peers])
        if not any(busy):
            return [peer.stats() for peer in peers]
        if time.monotonic() > deadline:
            raise RuntimeError(f"peers still have open connections after {within:g} s: {busy}")
        await asyncio.sleep(0.05)


async def run(url: str, workdir: Path, smtp: Peer, twilio: Peer, options: LoadOptions) -> LoadRun:
    """One run on a database at `url` (migrated and seeded here), with these peers."""
    load_average = os.getloadavg()
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await seed_customers(url, options.customers)
        _, key = await create_key(engine, name="load", role="ops", now=datetime.now(UTC))
        config = write_config(workdir, url, smtp, twilio, max_in_flight=options.max_in_flight)
        samples: list[Sample] = []
        with _workers(config, workdir, options.workers) as running:
            with serve(config, workdir) as server:
                pids = {
                    "server": server.pid,
                    **{f"worker {i + 1}": w.pid for i, w in enumerate(running)},
                    "smtp peer": smtp.pid,
                    "twilio peer": twilio.pid,
                }
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                t0 = time.monotonic()
                loading = asyncio.create_task(_generate(server.base, key, workdir, options))
                while not loading.done():
                    samples.append(await sample(engine, time.monotonic() - t0))
                    await asyncio.wait({loading}, timeout=1.0)
                planned, results, client_cpu = await loading
                cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                cpu["load generator"] = client_cpu
            # The server is stopped: what it committed is all in the database, including
            # events whose answer came too late for the generator (counted as errors).
            ended = t0 + max((r["end"] for r in results), default=0.0)
            recorded, _, _ = await _recorded(engine)
            expected = expected_messages(recorded)
            drained_after: float | None = None
            while True:  # looked at least once, however long stopping the server took
                current = await sample(engine, time.monotonic() - t0)
                samples.append(current)
                if (
                    current.unplanned == 0
                    and current.due == 0
                    and current.held == 0
                    and smtp.stats().distinct >= expected["email"]
                    and twilio.stats().distinct >= expected["sms"]
                ):
                    drained_after = time.monotonic() - ended
                    break
                if time.monotonic() >= ended + options.drain_within:
                    break
                await asyncio.sleep(0.25)
        codes = [w.returncode for w in running]
        # Every worker has stopped: the peers' counts are final once their connections close.
        email, sms = await quiet_stats(smtp, twilio)
        recorded, repeated, unplanned = await _recorded(engine)
        outbox_rows, statuses = await _outbox(engine)
        event_to_sent = await _event_to_sent(engine)
    finally:
        await engine.dispose()
    return LoadRun(
        options=options,
        load_average=load_average,
        planned=planned,
        results=results,
        samples=samples,
        drained_after=drained_after,
        recorded=recorded,
        repeated=repeated,
        unplanned=unplanned,
        expected=expected_messages(recorded),
        outbox_rows=outbox_rows,
        peers={"email": email, "sms": sms},
        statuses=statuses,
        event_to_sent=event_to_sent,
        cpu=cpu,
        codes=codes,
        server=server,
    )
