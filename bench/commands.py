"""The benchmark commands: each starts its peers, runs, prints, returns its figures."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench import failover as failover_bench
from bench import load as load_bench
from bench import scheduler as scheduler_bench
from bench import statuspage as statuspage_bench
from bench.fanout import EndToEnd, describe, end_to_end
from bench.peers import Peer
from bench.setup import database, workdir
from bench.transport import Rate, apprise_email, sample_messages, smtp_direct, twilio_direct


def _rate_line(name: str, rate: Rate) -> str:
    cpu = (
        f", client CPU {rate.cpu_seconds / rate.messages * 1000:.2f} ms/msg"
        if rate.cpu_seconds and rate.messages
        else ""
    )
    return (
        f"  {name:44} {rate.messages:>7} in {rate.seconds:6.2f} s = "
        f"{rate.per_second:7.0f} msg/s (peer accepted {rate.peer.accepted}, "
        f"duplicates {rate.peer.duplicates}{cpu})"
    )


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    n, ew, sw = args.customers, args.email_width, args.sms_width
    sample = sample_messages()
    figures: dict[str, Any] = {}
    with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio, workdir() as tmp:
        print(
            f"peers: SMTP sink pid {smtp.pid} port {smtp.port}, "
            f"Twilio stand-in pid {twilio.pid} port {twilio.port}",
            flush=True,
        )
        # Warm both peers (first connections, imports) outside any measurement.
        await smtp_direct(smtp, sample, 200, ew, "warm")
        await twilio_direct(twilio, sample, 200, sw)

        print("transport limit (the libraries alone, same peers, same concurrency):")
        smtp.reset()
        email_limit = await smtp_direct(smtp, sample, n, ew, "limit")
        print(_rate_line(f"aiosmtplib, {ew} connections, direct bytes", email_limit), flush=True)
        twilio.reset()
        sms_limit = await twilio_direct(twilio, sample, n, sw)
        print(_rate_line(f"twilio async client, {sw} in flight", sms_limit), flush=True)
        smtp.reset()
        twilio.reset()
        both_email, both_sms = await asyncio.gather(
            smtp_direct(smtp, sample, n, ew, "both"), twilio_direct(twilio, sample, n, sw)
        )
        print(_rate_line("both at once: email", both_email))
        print(_rate_line("both at once: SMS", both_sms), flush=True)

        smtp.reset()
        apprise = await asyncio.to_thread(apprise_email, smtp, sample, args.apprise)
        if isinstance(apprise, str):
            print(f"  apprise: not measured: {apprise}")
        else:
            print(_rate_line("apprise (mailto://, throttle off)", apprise), flush=True)

        runs: dict[str, EndToEnd] = {}
        for channels in (["email"], ["sms"], ["email", "sms"]):
            run = await end_to_end(
                db=args.db,
                workdir=Path(tmp),
                customers=n,
                channels=channels,
                worker_count=args.workers,
                smtp=smtp,
                twilio=twilio,
                email_width=ew,
                sms_width=sw,
            )
            runs["+".join(channels)] = run
            print("\n".join(describe(run)), flush=True)

    email, sms, both = runs["email"], runs["sms"], runs["email+sms"]
    print("ratios (notifier / transport limit, same run):")
    ratios = {
        "email / aiosmtplib": email.rate("email") / email_limit.per_second,
        "sms / twilio async": sms.rate("sms") / sms_limit.per_second,
        "both: email / both-at-once limit": both.rate("email") / both_email.per_second,
        "both: sms / both-at-once limit": both.rate("sms") / both_sms.per_second,
        "both: email / email-alone limit": both.rate("email") / email_limit.per_second,
        "both: sms / sms-alone limit": both.rate("sms") / sms_limit.per_second,
    }
    if not isinstance(apprise, str):
        ratios["email / apprise"] = email.rate("email") / apprise.per_second
    for name, value in ratios.items():
        print(f"  {name:36} {value:6.2f}")
    figures.update(
        limits={
            "email": email_limit,
            "sms": sms_limit,
            "both_email": both_email,
            "both_sms": both_sms,
        },
        apprise=apprise,
        end_to_end=runs,
        ratios=ratios,
    )
    return figures


async def rss(args: argparse.Namespace) -> dict[str, Any]:
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    with (
        Peer.start("smtp", track_duplicates=False) as smtp,
        Peer.start("twilio", track_duplicates=False) as twilio,
        workdir() as tmp,
    ):
        started = time.monotonic()
        run = await end_to_end(
            db=args.db,
            workdir=Path(tmp),
            customers=args.customers,
            channels=channels,
            worker_count=1,
            smtp=smtp,
            twilio=twilio,
            email_width=args.email_width,
            sms_width=args.sms_width,
            stall=120.0,
        )
        print(
            f"  customers seeded in {run.seconds_to_seed:.0f} s; whole run "
            f"{time.monotonic() - started:.0f} s"
        )
        print("\n".join(describe(run)))
        print(f"  peak RSS of the worker process: {max(run.peak_rss_mb):.0f} MB (target < 300 MB)")
    return {"run": run}


async def workers(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(c) for c in args.counts.split(",")]
    runs: list[EndToEnd] = []
    with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio, workdir() as tmp:
        for count in counts:
            run = await end_to_end(
                db=args.db,
                workdir=Path(tmp),
                customers=args.customers,
                channels=["email", "sms"],
                worker_count=count,
                smtp=smtp,
                twilio=twilio,
                email_width=args.email_width,
                sms_width=args.sms_width,
            )
            runs.append(run)
            print("\n".join(describe(run)), flush=True)
    print("summary (messages/s from declare to the last message; duplicates at the peers):")
    for run in runs:
        print(
            f"  {run.workers} worker(s): email {run.rate('email'):6.0f}/s  "
            f"sms {run.rate('sms'):6.0f}/s  duplicates {run.duplicates}  "
            f"complete {run.complete}"
        )
    return {"runs": runs}


async def scheduler(args: argparse.Namespace) -> dict[str, Any]:
    return await scheduler_bench.run(
        db=args.db, pending=args.pending, due=args.due, window=args.window
    )


async def failover(args: argparse.Namespace) -> dict[str, Any]:
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    figures: dict[str, Any] = {}
    with workdir() as tmp:
        folder = Path(tmp)
        if "throttled" in runs:
            print(f"throttled: relay 14 emails/s, Twilio 30 SMS/s, {args.customers} customers")
            figures["throttled"] = await failover_bench.throttled(folder, args.db, args.customers)
        if "outage" in runs:
            print(f"outage: every provider refusing for {args.outage:.0f} s, then back")
            figures["outage"] = await failover_bench.outage(
                folder, args.db, args.customers, args.outage
            )
        if "killed" in runs:
            print("killed: the primary SMTP relay killed mid fan-out, then back")
            figures["killed"] = await failover_bench.killed(folder, args.db, args.customers)
    return figures


async def load(args: argparse.Namespace) -> dict[str, Any]:
    stores = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    runs: dict[str, load_bench.LoadRun] = {}
    for store in stores:
        options = load_bench.LoadOptions(
            store=store,
            rate=args.rate,
            seconds=args.seconds,
            customers=args.customers,
            workers=args.workers,
            miss_after=args.miss_after,
            max_in_flight=args.max_in_flight,
        )
        with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio, workdir() as tmp:
            async with database(store, Path(tmp)) as url:
                run = await load_bench.run(url, Path(tmp), smtp, twilio, options)
        runs[store] = run
        print(run.report(), flush=True)
        if args.timeline:
            print(run.timeline(), flush=True)
    return {
        store: {
            "achieved_per_second": run.achieved,
            "answered": len(run.answered),
            "errors": len(run.errors),
            "missed": len(run.missed),
            "admission_retries": run.busy_retries,
            "latency_seconds": sorted(r["end"] - r["start"] for r in run.answered),
            "planning_lag_max_seconds": max((s.unplanned_age for s in run.samples), default=0),
            "drained_after_seconds": run.drained_after,
            "lost": run.lost(),
            "duplicates": {c: s.duplicates for c, s in run.peers.items()},
        }
        for store, run in runs.items()
    }


async def statuspage(args: argparse.Namespace) -> dict[str, Any]:
    with Peer.start("smtp") as smtp, workdir() as tmp:
        result = await statuspage_bench.run(
            db=args.db,
            workdir=Path(tmp),
            customers=args.customers,
            smtp=smtp,
            concurrency=args.concurrency,
            seconds=args.seconds,
            rate=args.rate,
            repeat=args.repeat,
            nice=args.reader_nice,
        )
    print("\n".join(statuspage_bench.describe(result)), flush=True)
    return {"statuspage": result}
