"""An open-loop load generator of order events for `notifier serve`, run as a process of
its own by `python -m bench load` and by tests/reliability/test_load.py:

    LOAD_API_KEY=ntf_... python -m bench.load_client \\
        --base-url http://127.0.0.1:8000 --rate 220 --seconds 60 --customers 4000 \\
        --out /tmp/load.json

Open loop: event k is due at k / rate seconds after the start, whatever happened to the
events before it; a slow answer never delays the next request (it only adds one more in
flight). Each order follows a legal path of the transition table, its events a few seconds
apart, and many orders are in flight at once:

    placed -> shipped -> delivered                            (50 %)
    placed -> shipped -> out_for_delivery -> delivered        (20 %)
    placed -> delayed (new date) -> shipped -> delivered      (15 %)
    placed -> shipped -> delayed (new date) -> delivered      (15 %)

The one exception to the open loop: an event waits for the answer to the previous event of
the same order (a later status must not overtake an earlier one on the wire). An event that
cannot start within `--miss-after` seconds of its due time (the generator fell behind, or
the previous answer of its order is that late) is not sent and counts as missed, and so are
the rest of its order's events, as is every event after one that got no 2xx.
`--miss-after inf` sends every event however late (the correctness test: nothing is
dropped for the machine being slow).

A 503 from the server's admission control (`api.max_in_flight`: "busy", with Retry-After)
is retried after that delay, as a client must; it wrote nothing, so the retry is the one
recorded. Any other 503 (the database unavailable) is an error.

Per event the output records when it was due, when its request started and ended, the
HTTP status (0: no answer, with the exception's name; -1: missed, not sent) and how many
admission 503s came before that answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp

# Each path: (weight, statuses after "placed"). "delayed" brings a new promised date.
PATHS: list[tuple[int, list[str]]] = [
    (50, ["shipped", "delivered"]),
    (20, ["shipped", "out_for_delivery", "delivered"]),
    (15, ["delayed", "shipped", "delivered"]),
    (15, ["shipped", "delayed", "delivered"]),
]
CARRIERS = ["UPS", "FedEx", "DHL", "USPS"]
MISSED = -1
BUSY = "busy"  # in the detail of the admission's 503 (notifier/api/admission.py)


@dataclass(frozen=True, slots=True)
class Planned:
    due: float  # seconds after the start
    order_id: str
    body: dict[str, Any]


@dataclass(slots=True)
class Sent:
    due: float
    start: float  # seconds after the start
    end: float
    status: int  # 0: no answer; MISSED: not sent (too late)
    order_id: str
    order_status: str
    ignored: bool = False
    error: str | None = None
    busy_retries: int = 0  # admission 503s answered before the recorded one


def plan(rate: float, seconds: float, customers: int, gap: float, seed: int) -> list[Planned]:
    """`rate * seconds` events, event k due at k / rate, following orders' legal paths."""
    rng = random.Random(seed)
    count = round(rate * seconds)
    today = date.today()
    weights = [w for w, _ in PATHS]
    mean_events = sum(w * (1 + len(p)) for w, p in PATHS) / sum(weights)
    # Orders start at the rate that keeps `rate` events a second in the steady state; the
    # events of orders still open at the end are left out (their orders stay open).
    starts_per_second = rate / mean_events
    stamped: list[tuple[float, int, str, dict[str, Any]]] = []
    n = 0
    while True:
        start = n / starts_per_second
        if start >= seconds:
            break
        order_id = f"L{seed % 1000:03d}-{n:06d}"
        customer = f"c{rng.randrange(customers):08d}"
        promised = today + timedelta(days=rng.randint(4, 9))
        carrier = rng.choice(CARRIERS)
        steps = rng.choices([p for _, p in PATHS], weights)[0]
        events: list[dict[str, Any]] = [
            {"status": "placed", "customer_id": customer, "promised_date": promised.isoformat()}
        ]
        for step in steps:
            body: dict[str, Any] = {"status": step}
            if step == "shipped":
                body.update(carrier=carrier, tracking=f"1Z{n:010d}")
            elif step == "delayed":
                promised += timedelta(days=rng.randint(1, 3))
                body.update(promised_date=promised.isoformat(), note="Weather at the hub.")
            events.append(body)
        for i, body in enumerate(events):
            stamped.append((start + i * gap + rng.uniform(0, gap / 4), n, order_id, body))
        n += 1
    stamped.sort(key=lambda s: (s[0], s[1]))
    # Fixed intervals: the k-th event in time order is due at k / rate. Each order's events
    # keep their order and stay about `gap` apart.
    return [Planned(k / rate, o, b) for k, (_, _, o, b) in enumerate(stamped[:count])]


async def run(
    base_url: str,
    key: str,
    events: list[Planned],
    *,
    connections: int,
    request_timeout: float,
    miss_after: float,
) -> list[Sent]:
    # Idle connections are closed well before uvicorn's keep-alive timeout (5 s): reusing
    # one the server is closing at that instant fails with ServerDisconnectedError.
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=2)
    results: list[Sent] = []
    previous: dict[str, asyncio.Task[bool]] = {}
    headers = {"Authorization": f"Bearer {key}"}
    client_timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(
        base_url=base_url, connector=connector, headers=headers, timeout=client_timeout
    ) as session:

        async def warm() -> None:
            async with session.get("/healthz") as response:
                await response.read()

        # Open some of the pool's connections before the clock starts.
        await asyncio.gather(*(warm() for _ in range(min(connections, 16))))
        t0 = time.monotonic()

        async def send(event: Planned, before: asyncio.Task[bool] | None) -> bool:
            """Send `event` unless it is too late; True if it got a 2xx."""
            went_before = await before if before is not None else True
            start = time.monotonic() - t0
            order_status = str(event.body["status"])
            if not went_before or start > event.due + miss_after:
                results.append(Sent(event.due, start, start, MISSED, event.order_id, order_status))
                return False
            status, ignored, error, retries = 0, False, None, 0
            while True:
                retry_after: float | None = None
                error = None
                try:
                    async with session.post(
                        f"/api/orders/{event.order_id}/events", json=event.body
                    ) as response:
                        status = response.status
                        answer = await response.json(content_type=None)
                        if status < 300:
                            ignored = bool(answer.get("ignored"))
                        else:
                            error = str(answer)[:300]
                            if status == 503 and BUSY in str(answer.get("detail", "")):
                                retry_after = float(response.headers.get("Retry-After", "1"))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                if retry_after is None:
                    break
                # Turned away before anything was written: the same request again, later.
                retries += 1
                await asyncio.sleep(retry_after)
            end = time.monotonic() - t0
            result = Sent(event.due, start, end, status, event.order_id, order_status, ignored)
            result.error, result.busy_retries = error, retries
            results.append(result)
            return 200 <= status < 300

        tasks: list[asyncio.Task[bool]] = []
        for event in events:
            delay = event.due - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send(event, previous.get(event.order_id)))
            previous[event.order_id] = task
            tasks.append(task)
        await asyncio.gather(*tasks)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--rate", type=float, default=220.0, help="events a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, required=True, help="c00000000 ... seeded")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between an order's events")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument(
        "--miss-after",
        type=float,
        default=1.0,
        help="seconds late at which an event is missed ('inf': never)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    key = os.environ["LOAD_API_KEY"]  # not on the command line: `ps` shows that
    events = plan(args.rate, args.seconds, args.customers, args.gap, args.seed)
    started = time.time()
    results = asyncio.run(
        run(
            args.base_url,
            key,
            events,
            connections=args.connections,
            request_timeout=args.timeout,
            miss_after=args.miss_after,
        )
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    args.out.write_text(
        json.dumps(
            {
                "rate": args.rate,
                "seconds": args.seconds,
                "started": started,
                "planned": len(events),
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "results": [asdict(r) for r in results],
            }
        ),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
