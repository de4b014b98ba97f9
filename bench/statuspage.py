"""The public status page under load: `/status` and `summary.json` requests per second from
a `notifier serve --no-worker` process, alone and while a `notifier worker` fans an
incident out to every customer; and how much that load slows the fan-out.

The page is served from a snapshot in memory, so its rate should barely move while the
database is busy with the fan-out; and since the page asks the database nothing per
request, the fan-out should barely notice the visitors.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.peers import Peer, wait_for_both
from bench.setup import (
    NOTIFIER,
    database,
    declare,
    notifier_env,
    seed_customers,
    workers,
    write_config,
)


@dataclass
class Load:
    path: str
    requests: int
    seconds: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class StatusPageRun:
    customers: int
    alone: dict[str, Load]
    during: Load
    fanout_alone_seconds: float
    fanout_loaded_seconds: float

    @property
    def fanout_slowdown(self) -> float:
        return self.fanout_loaded_seconds / self.fanout_alone_seconds - 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(config: Path, port: int) -> Iterator[str]:
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
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


async def hammer(
    base: str, path: str, *, concurrency: int, seconds: float | None, stop: asyncio.Event
) -> Load:
    """GET `path` from `concurrency` clients until `seconds` pass or `stop` is set."""
    done = errors = 0
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one_client() -> None:
            nonlocal done, errors
            while not stop.is_set():
                if seconds is not None and time.perf_counter() - started >= seconds:
                    return
                try:
                    response = await client.get(path)
                except httpx.TransportError:
                    # A dropped connection is an error to count, not the end of the run.
                    done += 1
                    errors += 1
                    continue
                done += 1
                errors += response.status_code != 200

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return Load(path, done, time.perf_counter() - started, errors)


async def run(
    *,
    db: str,
    workdir: Path,
    customers: int,
    smtp: Peer,
    concurrency: int,
    seconds: float,
) -> StatusPageRun:
    async with database(db, workdir) as url:
        await seed_customers(url, customers)
        config = write_config(
            workdir, url, smtp, smtp, channels=["email"], email_width=16, sms_width=1
        )
        with served(config, _free_port()) as base, workers(config, 1):
            never = asyncio.Event()
            alone = {}
            for path in ("/status", "/status/api/v2/summary.json"):
                await hammer(base, path, concurrency=concurrency, seconds=1.0, stop=never)
                alone[path] = await hammer(
                    base, path, concurrency=concurrency, seconds=seconds, stop=never
                )
            smtp.reset()
            # From before the command: the worker starts sending before the CLI has exited.
            began = time.time()
            declare(config, title="Fan-out alone")
            await wait_for_both([(smtp, customers)])
            fanout_alone = smtp.stats(began).last or 0.0

            smtp.reset()
            stop = asyncio.Event()
            load = asyncio.create_task(
                hammer(
                    base,
                    "/status/api/v2/summary.json",
                    concurrency=concurrency,
                    seconds=None,
                    stop=stop,
                )
            )
            began = time.time()
            declare(config, title="Fan-out under load")
            await wait_for_both([(smtp, customers)])
            fanout_loaded = smtp.stats(began).last or 0.0
            stop.set()
            during = await load
    return StatusPageRun(customers, alone, during, fanout_alone, fanout_loaded)


def describe(result: StatusPageRun) -> list[str]:
    lines = [f"status page, {result.customers} customers:"]
    for path, load in result.alone.items():
        lines.append(
            f"  {path:34} alone:          {load.per_second:7.0f} req/s "
            f"({load.requests} in {load.seconds:.1f} s, {load.errors} errors)"
        )
    d = result.during
    lines.append(
        f"  {d.path:34} during fan-out: {d.per_second:7.0f} req/s "
        f"({d.requests} in {d.seconds:.1f} s, {d.errors} errors)"
    )
    lines.append(
        f"  fan-out: {result.fanout_alone_seconds:.1f} s alone, "
        f"{result.fanout_loaded_seconds:.1f} s under load "
        f"({result.fanout_slowdown * 100:+.0f} %)"
    )
    return lines
