"""Worker processes, peer processes and a database for the reliability tests.

The worker is driven only through its stable interfaces: the `notifier worker` command in
a process of its own, incidents declared through `notifier.services.incidents`, and the
database. The peers are `bench.peers` processes, which count what they accept and the
duplicates (by Message-ID for email, by recipient and body for SMS).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.peers import Peer, PeerStats
from bench.setup import SERVICE, seed_customers
from notifier.services import incidents
from notifier.sinks.twilio_standin import DEFAULT_SID, DEFAULT_TOKEN
from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from notifier.store.tables import outbox
from tests.waiting import GENEROUS, wait_for, wait_until

ROOT = Path(__file__).resolve().parents[2]
_VENV_NOTIFIER = Path(sys.executable).parent / "notifier"
NOTIFIER = (
    [str(_VENV_NOTIFIER)]
    if _VENV_NOTIFIER.exists()
    else [sys.executable, "-c", "from notifier.cli import main; main()"]
)

RULES = """
[[rule]]
name = "declared-email"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_declared"

[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
template = "incident_declared"
"""


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def write_config(
    workdir: Path,
    url: str,
    smtp_port: int,
    twilio_url: str,
    *,
    batch_size: int,
    lease_seconds: float,
    email_timeout: float = 30.0,
    sms_timeout: float = 15.0,
    max_attempts: int = 6,
    backoff_base: float = 2.0,
    backoff_max: float = 600.0,
    poll_interval: float = 0.2,
    planning_lease: float = 6.0,
) -> Path:
    rules = workdir / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "reliability.toml").write_text(RULES, encoding="utf-8")
    config = workdir / "config.toml"
    config.write_text(
        f"""
operations_email = "ops@example.com"

[database]
url = {json.dumps(url)}

[email]
host = "127.0.0.1"
port = {smtp_port}
from_address = "status@example.com"
from_name = "Example Co"
pool_size = 4
timeout = {email_timeout}
message_id_domain = "reliability.local"

[sms]
account_sid = "{DEFAULT_SID}"
auth_token = "{DEFAULT_TOKEN}"
from_number = "+15005550006"
api_base_url = {json.dumps(twilio_url)}
concurrency = 8
timeout = {sms_timeout}

[delivery]
batch_size = {batch_size}
lease_seconds = {lease_seconds}
max_attempts = {max_attempts}
backoff_base = {backoff_base}
backoff_max = {backoff_max}

[scheduler]
poll_interval = {poll_interval}
planning_lease = {planning_lease}

[paths]
rules = {json.dumps(str(rules))}
templates = {json.dumps(str(ROOT / "templates"))}
""",
        encoding="utf-8",
    )
    return config


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}


def _run_cli(argv: list[str], log: str) -> None:
    """The body of a worker process: `notifier ARGV`, its output into `log`."""
    for name in [k for k in os.environ if k.startswith("NOTIFIER_")]:
        del os.environ[name]  # the config file alone decides
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    from notifier.cli import main

    main(argv)


def _forkserver() -> multiprocessing.context.ForkServerContext:
    """Processes forked from a server that has already imported notifier: a worker is up in
    a fraction of a second instead of the ~4 s its imports take here, so 20 kills and
    restarts fit the time budget. Each is still a process of its own running the
    `notifier` command's `main`, killed with a real SIGKILL."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["notifier.cli", "tests.reliability.procs"])
    return context


@dataclass
class WorkerProcess:
    """One `notifier --config FILE worker` process, its output in a log file."""

    config: Path
    log: Path
    process: multiprocessing.process.BaseProcess | None = None
    worker_id: str | None = None
    starts: int = 0

    def start(self, *, timeout: float = GENEROUS) -> None:
        self.starts += 1
        self.log.write_bytes(b"")
        process = self.process = _forkserver().Process(
            target=_run_cli,
            args=(["--config", str(self.config), "worker"], str(self.log)),
            name="notifier-worker",
        )
        process.start()

        def running_or_exited() -> str | None:
            for line in self.output().splitlines():
                if " running" in line and line.startswith("worker "):
                    return line
            return None if process.is_alive() else "exited"

        line = wait_until(
            running_or_exited,
            what=lambda: f"the worker to say it runs\n{self.output()}",
            within=timeout,
            interval=0.01,
        )
        if line == "exited":
            raise RuntimeError(f"worker exited at start:\n{self.output()}")
        self.worker_id = line.split()[1].rstrip(";")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL
        self.process.join(10)
        assert self.process.exitcode == -signal.SIGKILL

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 30 s; the exit code."""
        if self.process is None:
            return None
        if self.process.is_alive():
            self.process.terminate()  # SIGTERM: the worker's clean shutdown
            self.process.join(30)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(10)
        return self.process.exitcode

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


async def prepare_database(url: str, customers: int) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    await seed_customers(url, customers)


async def declare_incident(url: str) -> int:
    engine = create_engine(url)
    try:
        now = datetime.now(UTC)
        incident = await incidents.declare(
            engine,
            title="Satellite radio signal outage",
            severity="major",
            affects=[SERVICE],
            eta=now + timedelta(hours=2),
            message="Our satellites stopped broadcasting after a ground-station fault.",
            now=now,
        )
        return incident.id
    finally:
        await engine.dispose()


async def outbox_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.status, func.count()).group_by(outbox.c.status)
            )
            return {str(status): int(count) for status, count in rows.all()}
    finally:
        await engine.dispose()


async def in_flight(url: str, worker_id: str | None) -> int:
    """Rows a (dead) worker had claimed and not recorded: what it may have sent unrecorded."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).where(outbox.c.status == "sending")
            if worker_id is not None:
                query = query.where(outbox.c.claimed_by == worker_id)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs, {memory:.0f} GiB RAM"


async def final_stats(*peers: Peer) -> list[PeerStats]:
    """The peers' counts once nothing more can arrive. Call it after every sender has
    stopped: a peer that has seen all its client connections close has counted everything
    sent to it, so a late duplicate would already be in these figures."""

    def quiet() -> bool:
        return all(peer.open_connections() == 0 for peer in peers)

    await wait_for(
        lambda: asyncio.to_thread(quiet),
        what=lambda: "the peers to see every connection closed (open: "
        + ", ".join(f"{p.kind} {p.open_connections()}" for p in peers)
        + ")",
    )
    return [peer.stats() for peer in peers]


def start_peers() -> tuple[Peer, Peer]:
    smtp = Peer.start("smtp")
    try:
        twilio = Peer.start("twilio")
    except BaseException:
        smtp.stop()
        raise
    return smtp, twilio
