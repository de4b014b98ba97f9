"""Databases, customers, settings and worker processes for a benchmark run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # no type information shipped
from sqlalchemy.engine import make_url

from bench.peers import Peer
from notifier.sinks.twilio_standin import DEFAULT_SID, DEFAULT_TOKEN
from notifier.store.db import create_engine
from notifier.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
NOTIFIER = [sys.executable, "-c", "from notifier.cli import main; main()"]
SERVICE = "bench-service"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"

_LOCALES = ["en", "en", "en", "en", "fr"]
_ZONES = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/Paris", "UTC"]

# The rules of a run: which channels an incident declaration uses.
RULES = {
    "email": """
[[rule]]
name = "declared-email"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_declared"
""",
    "sms": """
[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
template = "incident_declared"
""",
}


def customer_row(i: int) -> tuple[str, str, str, str, str, str]:
    return (
        f"c{i:08d}",
        f"Customer {i}",
        f"c{i}@example.com",
        f"+1555{i:07d}",
        _LOCALES[i % len(_LOCALES)],
        _ZONES[i % len(_ZONES)],
    )


@contextlib.asynccontextmanager
async def database(kind: str, workdir: Path, pg_admin: str = DEFAULT_PG) -> AsyncIterator[str]:
    """A fresh, migrated database: a SQLite file in `workdir`, or a new PostgreSQL one."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        await _migrate(url)
        yield url
        return
    name = f"notifier_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_admin)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = (
        make_url(pg_admin)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )
    try:
        await _migrate(url)
        yield url
    finally:
        admin = await asyncpg.connect(pg_admin)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def seed_customers(url: str, count: int, *, service: str = SERVICE) -> float:
    """Insert `count` customers depending on `service`, straight into the tables (an
    import validates every phone number; that is not what is measured). Returns seconds."""
    start = time.monotonic()
    chunk = 50_000
    if url.startswith("sqlite"):
        path = make_url(url).database
        assert path
        await asyncio.to_thread(_seed_sqlite, path, count, service, chunk)
    else:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn)
        try:
            now = datetime.now(UTC)
            for begin in range(0, count, chunk):
                rows = [customer_row(i) for i in range(begin, min(count, begin + chunk))]
                await connection.copy_records_to_table(
                    "customers",
                    records=[(*row, "{}", now, now) for row in rows],
                    columns=[
                        "id",
                        "name",
                        "email",
                        "phone",
                        "locale",
                        "timezone",
                        "attributes",
                        "created_at",
                        "updated_at",
                    ],
                )
                await connection.copy_records_to_table(
                    "customer_services",
                    records=[(row[0], service) for row in rows],
                    columns=["customer_id", "service"],
                )
            await connection.execute("ANALYZE")
        finally:
            await connection.close()
    return time.monotonic() - start


def _seed_sqlite(path: str, count: int, service: str, chunk: int) -> None:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    connection = sqlite3.connect(path)
    try:
        for begin in range(0, count, chunk):
            rows = [customer_row(i) for i in range(begin, min(count, begin + chunk))]
            with connection:
                connection.executemany(
                    "INSERT INTO customers (id, name, email, phone, locale, timezone, "
                    "attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)",
                    [(*row, now, now) for row in rows],
                )
                connection.executemany(
                    "INSERT INTO customer_services (customer_id, service) VALUES (?, ?)",
                    [(row[0], service) for row in rows],
                )
        connection.execute("ANALYZE")
    finally:
        connection.close()


def write_config(
    workdir: Path,
    url: str,
    smtp: Peer,
    twilio: Peer,
    *,
    channels: Sequence[str],
    email_width: int,
    sms_width: int,
    extra_rules: str = "",
) -> Path:
    """A config file and a rules directory for the worker and CLI processes."""
    rules = workdir / f"rules-{'-'.join(channels)}"
    rules.mkdir(exist_ok=True)
    (rules / "bench.toml").write_text(
        "".join(RULES[c] for c in channels) + extra_rules, encoding="utf-8"
    )
    config = workdir / f"config-{'-'.join(channels)}.toml"
    config.write_text(
        f"""
operations_email = "ops@example.com"

[database]
url = {json.dumps(url)}

[email]
host = "127.0.0.1"
port = {smtp.port}
from_address = "status@example.com"
from_name = "Example Co"
pool_size = {email_width}
message_id_domain = "bench.local"

[sms]
account_sid = "{DEFAULT_SID}"
auth_token = "{DEFAULT_TOKEN}"
from_number = "+15005550006"
api_base_url = "{twilio.base_url}"
concurrency = {sms_width}

[paths]
rules = {json.dumps(str(rules))}
templates = {json.dumps(str(ROOT / "templates"))}
""",
        encoding="utf-8",
    )
    return config


def notifier_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env["NOTIFIER_CONFIG"] = str(config)
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """The process's peak resident set size so far (Linux: VmHWM)."""
        return peak_rss_mb(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out


@contextlib.contextmanager
def workers(config: Path, count: int) -> Iterator[list[WorkerProcess]]:
    """`count` `notifier worker` processes, started and idle."""
    started: list[WorkerProcess] = []
    try:
        for _ in range(count):
            process = subprocess.Popen(
                [*NOTIFIER, "worker"],
                env=notifier_env(config),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            started.append(WorkerProcess(process))
        for worker in started:
            assert worker.process.stdout is not None
            line = worker.process.stdout.readline()
            if "running" not in line:
                raise RuntimeError(f"worker did not start: {line}{worker.stop()}")
        time.sleep(1.0)  # let each one reach its first idle wait (LISTEN in place)
        yield started
    finally:
        for worker in started:
            worker.stop()


def declare(config: Path, title: str = "Satellite radio signal outage") -> float:
    """Run `notifier incident declare`; returns the time it returned (time.time())."""
    subprocess.run(
        [
            *NOTIFIER,
            "incident",
            "declare",
            "--title",
            title,
            "--severity",
            "major",
            "--affects",
            SERVICE,
            "--eta",
            "+2h",
            "--message",
            "Our satellites stopped broadcasting after a ground-station fault.",
        ],
        env=notifier_env(config),
        check=True,
        capture_output=True,
        text=True,
    )
    return time.time()


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="notifier-bench-")
