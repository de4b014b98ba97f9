"""`python -m bench COMMAND`: benchmarks that print figures (see BENCHMARKS.md).

    fanout     notifier end to end vs the transport limit and apprise, in one run
    load       the HTTP API under a sustained stream of order events, on SQLite and PostgreSQL
    rss        the peak RSS of a large fan-out (1,000,000 customers by default)
    scheduler  100,000 pending follow-ups: lateness of due ones, cost of a tick
    workers    1, 2 and 3 workers on PostgreSQL: throughput, duplicates at the peers
    statuspage /status and summary.json req/s, alone and during a fan-out; its slowdown
    failover   throttled providers, every provider down then back, the primary relay killed
    pacing     paced fan-out, critical news over a backlog, a resolution mid fan-out

Not part of the test suite; every figure is printed with the machine it ran on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from bench import commands
from bench import pacing as pacing_bench
from notifier.cli.runtime import run_loop


def machine() -> str:
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.split("\n")[1]
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"memory {' '.join(memory.split()[1:2])} total; Python {platform.python_version()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    sub = parser.add_subparsers(dest="command", required=True)

    fanout = sub.add_parser("fanout", help="end to end vs transport limit vs apprise")
    fanout.add_argument("--customers", type=int, default=20_000)
    fanout.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    fanout.add_argument(
        "--email-width",
        type=int,
        default=16,
        help="SMTP connections (notifier's pool and the limit's)",
    )
    fanout.add_argument(
        "--sms-width",
        type=int,
        default=32,
        help="concurrent Twilio requests (notifier's and the limit's)",
    )
    fanout.add_argument("--apprise", type=int, default=300, help="emails sent through apprise")
    fanout.add_argument("--workers", type=int, default=1)

    rss = sub.add_parser("rss", help="peak RSS of one large fan-out")
    rss.add_argument("--customers", type=int, default=1_000_000)
    rss.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    rss.add_argument("--channels", default="email,sms")
    rss.add_argument("--email-width", type=int, default=16)
    rss.add_argument("--sms-width", type=int, default=32)

    scheduler = sub.add_parser("scheduler", help="lateness and tick cost with many pending")
    scheduler.add_argument("--pending", type=int, default=100_000)
    scheduler.add_argument(
        "--due", type=int, default=500, help="follow-ups falling due during the run"
    )
    scheduler.add_argument(
        "--window", type=float, default=20.0, help="seconds over which they fall due"
    )
    scheduler.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")

    many = sub.add_parser("workers", help="1, 2, 3 workers on PostgreSQL")
    many.add_argument("--customers", type=int, default=20_000)
    many.add_argument("--counts", default="1,2,3")
    many.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    many.add_argument("--email-width", type=int, default=16)
    many.add_argument("--sms-width", type=int, default=32)

    failover = sub.add_parser("failover", help="throttling, outage, primary relay killed")
    failover.add_argument("--customers", type=int, default=2_000)
    failover.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    failover.add_argument(
        "--outage", type=float, default=60.0, help="seconds every provider refuses"
    )
    failover.add_argument("--runs", default="throttled,outage,killed")
    load = sub.add_parser("load", help="order events over HTTP at a fixed rate")
    load.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    load.add_argument("--rate", type=float, default=200.0, help="events a second offered")
    load.add_argument("--seconds", type=float, default=60.0)
    load.add_argument("--customers", type=int, default=5000)
    load.add_argument("--workers", type=int, default=1, help="`notifier worker` processes")
    load.add_argument(
        "--miss-after",
        type=float,
        default=1.0,
        help="seconds late at which the generator drops an event (open loop)",
    )
    load.add_argument("--max-in-flight", type=int, default=256, help="api.max_in_flight")
    load.add_argument("--timeline", action="store_true", help="print every sample")

    page = sub.add_parser("statuspage", help="status page req/s alone and during a fan-out")
    page.add_argument("--customers", type=int, default=20_000)
    page.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    page.add_argument("--concurrency", type=int, default=32, help="clients at once")
    page.add_argument("--seconds", type=float, default=5.0, help="per measurement alone")
    page.add_argument("--rate", type=float, default=1000.0, help="summary.json req/s asked")
    page.add_argument("--repeat", type=int, default=3, help="fan-outs of each kind")
    page.add_argument(
        "--reader-nice",
        type=int,
        default=0,
        help="niceness of the readers during fan-outs (they stand for visitors elsewhere)",
    )
    pacing = sub.add_parser("pacing", help="capacity, priorities, no stale news")
    pacing.add_argument("--customers", type=int, default=1_000)
    pacing.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    pacing.add_argument("--workers", type=int, default=3)
    pacing.add_argument("--email-rate", type=float, default=100.0, help="messages/s")
    pacing.add_argument("--sms-rate", type=float, default=50.0, help="segments/s")
    pacing.add_argument("--backlog", type=int, default=5_000, help="order messages queued")
    pacing.add_argument("--resolve-after", type=float, default=5.0, help="seconds")
    pacing.add_argument("--email-width", type=int, default=16)
    pacing.add_argument("--sms-width", type=int, default=32)
    pacing.add_argument(
        "--scenarios", default="", help="some of: paced,critical,resolution (default: all)"
    )

    args = parser.parse_args(argv)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = datetime.datetime.now(datetime.UTC)
    print(f"$ {command}")
    print(f"{started:%Y-%m-%d %H:%M} UTC; {machine()}", flush=True)
    runners: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]] = {
        "fanout": commands.fanout,
        "load": commands.load,
        "rss": commands.rss,
        "scheduler": commands.scheduler,
        "workers": commands.workers,
        "statuspage": commands.statuspage,
        "failover": commands.failover,
        "pacing": pacing_bench.run,
    }
    # The transport limit runs in this process: on the same event loop as notifier's
    # commands (uvloop), so that the ratios compare like with like.
    figures = run_loop(runners[args.command](args))
    if args.json:
        payload = {
            "command": command,
            "date": started.isoformat(),
            "machine": machine(),
            "figures": figures,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=_plain), encoding="utf-8")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


if __name__ == "__main__":
    main()
