"""Readers of the status page for `python -m bench statuspage`, in a process of their own.

A minimal HTTP/1.1 client: `--connections` kept-alive connections, each sending one GET
and reading its answer before the next. Why not httpx: in the same run httpx itself
topped out at about 370 requests a second on this 2-core machine, so it measured the
client, not the page; this one, on uvloop, answers tens of thousands a second.

With `--rate` the readers ask at that rate in all (open loop: a request's slot comes from
the clock, not from the answer to the previous one; a late reader catches up), so the
page's cost to a fan-out can be measured at the load the target names; without it, as fast
as the answers come. Runs `--seconds`, or until a line arrives on stdin; prints one JSON
object: requests, errors (an answer other than 200, or a dropped connection), seconds.

    python -m bench.status_reader --port 8000 --path /status/api/v2/summary.json --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass

from notifier.cli.runtime import run_loop


@dataclass
class Counts:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # this process's CPU seconds


class Schedule:
    """The next request's slot, `1 / rate` after the previous one's; None: no pacing."""

    def __init__(self, rate: float | None) -> None:
        self.gap = 1.0 / rate if rate else None
        self.next = time.perf_counter()

    async def wait_turn(self) -> None:
        if self.gap is None:
            return
        slot, self.next = self.next, self.next + self.gap
        delay = slot - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one answer; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    port: int, path: str, schedule: Schedule, counts: Counts, stop: asyncio.Event
) -> None:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept-Language: en-GB,en;q=0.9\r\nUser-Agent: bench-status-reader\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts.errors += 1
            await asyncio.sleep(0.1)  # the server is restarting or gone: do not spin
            continue
        try:
            while not stop.is_set():
                await schedule.wait_turn()
                writer.write(request)
                status = await _answer(reader)
                counts.requests += 1
                counts.errors += status != 200
        except (OSError, asyncio.IncompleteReadError):
            # A dropped connection is an error to count, not the end of the run.
            counts.requests += 1
            counts.errors += 1
        finally:
            writer.close()


async def read(
    port: int, path: str, *, connections: int, rate: float | None, seconds: float | None
) -> Counts:
    counts, stop, schedule = Counts(), asyncio.Event(), Schedule(rate)
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(_connection(port, path, schedule, counts, stop))
        for _ in range(connections)
    ]
    if seconds is not None:
        await asyncio.sleep(seconds)
    else:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    counts.seconds = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    counts.cpu = time.process_time()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=None, help="requests/s in all")
    parser.add_argument("--seconds", type=float, default=None, help="else until a stdin line")
    args = parser.parse_args()
    # On uvloop, as notifier's own processes run: the readers should cost as little as
    # they can, since on this machine they take CPU from what is measured.
    counts = run_loop(
        read(
            args.port,
            args.path,
            connections=args.connections,
            rate=args.rate,
            seconds=args.seconds,
        )
    )
    print(json.dumps(asdict(counts)), flush=True)


if __name__ == "__main__":
    main()
