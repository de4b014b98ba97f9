"""The public status page under load: `/status` and `summary.json` requests per second from
a `notifier serve --no-worker` process, alone and while a `notifier worker` fans an
incident out to every customer; and how much that load slows the fan-out.

The page is served from a snapshot in memory, so its rate should barely move while the
database is busy with the fan-out; and since the page asks the database nothing per
request, the fan-out should barely notice the visitors.

The readers run in a process of their own (`bench.status_reader`). The fan-out is timed
alone and under two loads: `summary.json` asked at `--rate` requests a second (the
target's load: how much does it cost the fan-out?) and as fast as it answers (what is
left for readers while a fan-out runs?). Each fan-out is run `--repeat` times, alternating,
and the median is taken: on a noisy 2-core machine one run against one is within noise.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.peers import Peer, wait_for_both
from bench.setup import (
    NOTIFIER,
    cpu_seconds,
    database,
    declare,
    notifier_env,
    seed_customers,
    workers,
    write_config,
)

SUMMARY = "/status/api/v2/summary.json"


@dataclass
class Load:
    path: str
    requests: int
    seconds: float
    errors: int
    asked_rate: float | None = None
    cpu: float = 0.0  # the readers' own CPU seconds

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class FanOut:
    """A fan-out's times (first to last acceptance at the peer, seconds), and the reads
    that ran beside it."""

    seconds: list[float] = field(default_factory=list)
    loads: list[Load] = field(default_factory=list)
    # CPU seconds each process spent during each fan-out (the readers: their whole run).
    cpu: list[dict[str, float]] = field(default_factory=list)

    def cpu_median(self, process: str) -> float:
        return statistics.median(c.get(process, 0.0) for c in self.cpu) if self.cpu else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0

    def reads(self) -> Load | None:
        if not self.loads:
            return None
        first = self.loads[0]
        return Load(
            first.path,
            sum(load.requests for load in self.loads),
            sum(load.seconds for load in self.loads),
            sum(load.errors for load in self.loads),
            first.asked_rate,
        )


@dataclass
class StatusPageRun:
    customers: int
    alone: dict[str, Load]
    fanout_alone: FanOut
    fanout_at_rate: FanOut
    fanout_flat_out: FanOut

    def slowdown(self, loaded: FanOut) -> float:
        return loaded.median / self.fanout_alone.median - 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [*NOTIFIER, "serve", "--no-worker", "--port", str(port)],
        env=notifier_env(config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("notifier serve did not start")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


class Readers:
    """`bench.status_reader` in a process of its own, for `seconds` or until `stop()`."""

    def __init__(
        self,
        port: int,
        path: str,
        *,
        connections: int,
        rate: float | None = None,
        nice: int = 0,
        seconds: float | None = None,
    ) -> None:
        self.path, self.rate = path, rate
        command = ["nice", "-n", str(nice)] if nice else []
        command += [sys.executable, "-m", "bench.status_reader", "--port", str(port)]
        command += ["--path", path, "--connections", str(connections)]
        command += ["--rate", str(rate)] if rate else []
        command += ["--seconds", str(seconds)] if seconds is not None else []
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def stop(self) -> Load:
        """Stop (a timed run ignores the line and ends by itself) and count."""
        out, _ = self.process.communicate("stop\n", timeout=120)
        counts = json.loads(out)
        return Load(
            self.path,
            counts["requests"],
            counts["seconds"],
            counts["errors"],
            self.rate,
            counts["cpu"],
        )


def read_for(port: int, path: str, *, connections: int, seconds: float) -> Load:
    return Readers(port, path, connections=connections, seconds=seconds).stop()


async def _fan_out(
    config: Path, smtp: Peer, customers: int, title: str, into: FanOut, pids: dict[str, int]
) -> None:
    """Declare an incident to every customer; note the seconds from the command to the last
    email, and the CPU each process spent meanwhile."""
    smtp.reset()
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    # From before the command: the worker starts sending before the CLI has exited.
    began = time.time()
    declare(config, title=title)
    await wait_for_both([(smtp, customers)])
    into.seconds.append(smtp.stats(began).last or 0.0)
    into.cpu.append({name: cpu_seconds(pid) - before[name] for name, pid in pids.items()})


async def run(
    *,
    db: str,
    workdir: Path,
    customers: int,
    smtp: Peer,
    concurrency: int,
    seconds: float,
    rate: float,
    repeat: int,
    nice: int,
) -> StatusPageRun:
    async with database(db, workdir) as url:
        await seed_customers(url, customers)
        config = write_config(
            workdir, url, smtp, smtp, channels=["email"], email_width=16, sms_width=1
        )
        port = _free_port()
        with served(config, port) as server, workers(config, 1) as (worker,):
            pids = {"server": server.pid, "worker": worker.pid, "smtp peer": smtp.pid}
            alone = {}
            for path in ("/status", SUMMARY):
                read_for(port, path, connections=concurrency, seconds=1.0)  # warm up
                alone[path] = read_for(port, path, connections=concurrency, seconds=seconds)
            quiet, at_rate, flat_out = FanOut(), FanOut(), FanOut()
            for round_ in range(repeat):
                await _fan_out(config, smtp, customers, f"Fan-out alone {round_}", quiet, pids)
                for loaded, asked in ((at_rate, rate), (flat_out, None)):
                    readers = Readers(port, SUMMARY, connections=concurrency, rate=asked, nice=nice)
                    try:
                        await _fan_out(
                            config, smtp, customers, f"Fan-out read {round_}", loaded, pids
                        )
                    finally:
                        loaded.loads.append(readers.stop())
    return StatusPageRun(customers, alone, quiet, at_rate, flat_out)


def describe(result: StatusPageRun) -> list[str]:
    lines = [f"status page, {result.customers} customers:"]
    for path, load in result.alone.items():
        lines.append(
            f"  {path:34} alone:          {load.per_second:7.0f} req/s "
            f"({load.requests} in {load.seconds:.1f} s, {load.errors} errors)"
        )
    alone = result.fanout_alone
    lines.append(
        f"  fan-out alone: {alone.median:.1f} s (median of "
        + ", ".join(f"{s:.1f}" for s in alone.seconds)
        + ")"
    )
    for name, loaded in (
        ("asked at a fixed rate", result.fanout_at_rate),
        ("as fast as it answers", result.fanout_flat_out),
    ):
        reads = loaded.reads()
        assert reads is not None
        asked = f" (asked {reads.asked_rate:g}/s)" if reads.asked_rate else ""
        lines.append(
            f"  {reads.path} during fan-out, {name}: {reads.per_second:7.0f} req/s{asked} "
            f"({reads.requests} in {reads.seconds:.1f} s, {reads.errors} errors); fan-out "
            f"{loaded.median:.1f} s (median of "
            + ", ".join(f"{s:.1f}" for s in loaded.seconds)
            + f"), {result.slowdown(loaded) * 100:+.0f} % against alone"
        )
    lines.append(
        "  CPU seconds per fan-out (median): "
        + "; ".join(
            f"{name}: "
            + ", ".join(
                f"{process} {loaded.cpu_median(process):.1f}"
                for process in ("worker", "smtp peer", "server")
            )
            + (
                f", readers {statistics.median(r.cpu for r in loaded.loads):.1f}"
                if loaded.loads
                else ""
            )
            for name, loaded in (
                ("alone", result.fanout_alone),
                ("at the rate", result.fanout_at_rate),
                ("flat out", result.fanout_flat_out),
            )
        )
    )
    return lines
