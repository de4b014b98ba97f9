"""`python -m bench pacing`: paced fan-out, an outage notice over an order backlog, and a
resolution mid fan-out, with `notifier worker` processes and the peers in processes of
their own.

Figures come from notifier's own record (the outbox's `sent_at`: when the provider accepted
each message) and from the peers (duplicates):

- paced fan-out: achieved rate per channel against the configured capacity, and the extra
  attempts (answers that were not an acceptance: throttling, failures);
- a critical incident declared while an order backlog waits: its first message after the
  declaration, its last, and what the dry run's forecast said for it;
- a resolution `--resolve-after` seconds into a paced fan-out: declarations handed over
  after the resolution (must be 0).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.peers import Peer
from bench.setup import (
    NOTIFIER,
    SERVICE,
    database,
    notifier_env,
    seed_customers,
    workdir,
    write_config,
)
from bench.setup import workers as worker_processes
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.outbox.enqueue import enqueue
from notifier.outbox.planned import PlannedMessage
from notifier.store.db import create_engine
from notifier.store.tables import incidents, outbox

_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


@dataclass(frozen=True)
class Rates:
    email: float
    sms: float


def _capacity(config: Path, rates: Rates) -> None:
    text = config.read_text(encoding="utf-8")
    text = text.replace("[sms]\n", f"[sms.capacity]\nrate = {rates.sms}\n\n[sms]\n", 1)
    text = text.replace("[email]\n", f"[email.capacity]\nrate = {rates.email}\n\n[email]\n", 1)
    config.write_text(text, encoding="utf-8")


def _cli(config: Path, *args: str) -> str:
    done = subprocess.run(
        [*NOTIFIER, *args],
        env=notifier_env(config),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _declare(config: Path, severity: str, *, dry_run: bool = False) -> dict[str, Any]:
    args = ["incident", "declare", "--title", "Satellite radio signal outage"]
    args += ["--severity", severity, "--affects", SERVICE, "--eta", "+2h", "--json"]
    data: dict[str, Any] = json.loads(_cli(config, *args, *(["--dry-run"] if dry_run else [])))
    return data


async def _sent_times(engine: AsyncEngine, incident_id: int) -> dict[str, list[datetime]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.channel, outbox.c.sent_at).where(
                outbox.c.subject_type == "incident",
                outbox.c.subject_id == str(incident_id),
                outbox.c.sent_at.is_not(None),
            )
        )
        found: dict[str, list[datetime]] = {}
        for channel, sent_at in rows:
            found.setdefault(channel, []).append(sent_at.replace(tzinfo=UTC))
    return {channel: sorted(times) for channel, times in found.items()}


async def _wait_idle(engine: AsyncEngine, incident_id: int, *, stall: float = 60.0) -> None:
    """Until the incident has messages and none of them waits (or nothing moves)."""
    last, since = -1, time.monotonic()
    subject = (outbox.c.subject_type == "incident", outbox.c.subject_id == str(incident_id))
    while True:
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).where(*subject))).scalar_one()
            waiting = (
                await conn.execute(
                    select(func.count()).where(*subject, outbox.c.status.in_(_WAITING))
                )
            ).scalar_one()
        if total and not waiting:
            return
        if waiting != last:
            last, since = waiting, time.monotonic()
        elif time.monotonic() - since > stall:
            print(f"  (gave up waiting: {waiting} of {total} still waiting)", flush=True)
            return
        await asyncio.sleep(0.2)


async def _extra_attempts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        value = (
            await conn.execute(
                select(func.sum(outbox.c.attempts) - func.count()).where(
                    outbox.c.status == DeliveryStatus.SENT.value
                )
            )
        ).scalar_one()
    return int(value or 0)


async def _paced(
    config: Path, engine: AsyncEngine, rates: Rates, peers: dict[str, Peer]
) -> dict[str, Any]:
    incident = _declare(config, "major")
    await _wait_idle(engine, incident["id"])
    figures: dict[str, Any] = {"extra_attempts": await _extra_attempts(engine)}
    for channel, configured in (("email", rates.email), ("sms", rates.sms)):
        # The peer's own clock of acceptances: the outbox records outcomes in batches.
        stats = peers[channel].stats()
        span = (stats.last or 0.0) - (stats.first or 0.0)
        achieved = (stats.accepted - 1) / span if stats.accepted > 1 and span > 0 else 0.0
        unit = "messages" if channel == "email" else "messages (the rate is in segments)"
        print(
            f"  {channel}: {stats.accepted:,} {unit} at the peer, achieved {achieved:.1f}/s "
            f"against {configured:g}/s configured ({achieved / configured:.2f})",
            flush=True,
        )
        figures[channel] = {"sent": stats.accepted, "rate": achieved}
    print(f"  extra attempts (answers other than an acceptance): {figures['extra_attempts']}")
    return figures


async def _backlog(config: Path, engine: AsyncEngine, count: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    rows = [
        PlannedMessage(
            key=f"bench-order:{i}:{channel.value}",
            customer_id=f"c{i:08d}",
            channel=channel,
            recipient=f"c{i}@example.com" if channel is ChannelName.EMAIL else f"+1555{i:07d}",
            locale="en",
            rule="order-backlog",
            template="order_shipped",
            subject_type="order",
            subject_id=f"bench-{i}",
            event_id=None,
            status=DeliveryStatus.PENDING,
            planned_at=now,
            next_attempt_at=now,
            subject="Your order is on its way" if channel is ChannelName.EMAIL else None,
            text="Your order is on its way.",
            priority=50,
        )
        for i in range(count)
        for channel in ChannelName
    ]
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await enqueue(conn, rows[start : start + 5000])
    forecast = _declare(config, "critical", dry_run=True)
    incident = _declare(config, "critical")
    declared_at = datetime.fromisoformat(incident["declared_at"])
    await _wait_idle(engine, incident["id"], stall=120)
    times = await _sent_times(engine, incident["id"])
    figures: dict[str, Any] = {"backlog": len(rows)}
    for channel in ("email", "sms"):
        sent = times.get(channel, [])
        if not sent:
            continue
        timing = forecast["channels"][channel]["timing"]
        first = (sent[0] - declared_at).total_seconds()
        last = (sent[-1] - declared_at).total_seconds()
        promised = timing["done_by"]
        # The forecast counts from when it was made.
        made = datetime.fromisoformat(timing["start"])
        said = (datetime.fromisoformat(promised) - made).total_seconds() if promised else None
        print(
            f"  {channel}: first message {first:.2f} s after the declaration, the last "
            f"{last:.1f} s; the forecast said {said if said is None else f'{said:.1f} s'} "
            f"({timing['summary']})",
            flush=True,
        )
        figures[channel] = {"first": first, "last": last, "forecast": said}
    return figures


async def _resolution(config: Path, engine: AsyncEngine, after: float) -> dict[str, Any]:
    incident = _declare(config, "major")
    await asyncio.sleep(after)  # the benchmark's scenario: resolve this far into the fan-out
    _cli(config, "incident", "resolve", str(incident["id"]), "--cause", "Fixed", "--json")
    await _wait_idle(engine, incident["id"])
    async with engine.connect() as conn:
        resolved_at = (
            await conn.execute(
                select(incidents.c.resolved_at).where(incidents.c.id == incident["id"])
            )
        ).scalar_one()
        late = (
            await conn.execute(
                select(outbox.c.channel, func.count())
                .where(
                    outbox.c.subject_type == "incident",
                    outbox.c.subject_id == str(incident["id"]),
                    outbox.c.rule.like("declared-%"),
                    outbox.c.sent_at > resolved_at,
                )
                .group_by(outbox.c.channel)
            )
        ).all()
        superseded = (
            await conn.execute(
                select(func.count()).where(
                    outbox.c.subject_id == str(incident["id"]),
                    outbox.c.status == DeliveryStatus.SUPERSEDED.value,
                )
            )
        ).scalar_one()
    after_resolution = {channel: int(n) for channel, n in late}
    print(
        f"  resolved {after:g} s in: declarations handed over after the resolution: "
        f"{sum(after_resolution.values())} {after_resolution or ''}; "
        f"{superseded} unsent declarations superseded",
        flush=True,
    )
    return {"late_declarations": after_resolution, "superseded": int(superseded)}


async def run(args: Any) -> dict[str, Any]:
    rates = Rates(email=args.email_rate, sms=args.sms_rate)
    figures: dict[str, Any] = {}

    async def paced(config: Path, engine: AsyncEngine) -> dict[str, Any]:
        return await _paced(config, engine, rates, peers)

    async def backlog(config: Path, engine: AsyncEngine) -> dict[str, Any]:
        return await _backlog(config, engine, args.backlog)

    async def resolution(config: Path, engine: AsyncEngine) -> dict[str, Any]:
        return await _resolution(config, engine, args.resolve_after)

    scenarios = (
        ("paced fan-out", paced),
        ("critical over a backlog", backlog),
        ("resolution mid fan-out", resolution),
    )
    with Peer.start("smtp") as smtp, Peer.start("twilio") as twilio, workdir() as tmp:
        peers = {"email": smtp, "sms": twilio}
        for name, scenario in scenarios:
            print(
                f"{name}: {args.customers:,} customers, {args.workers} worker(s), {args.db}, "
                f"capacity email {rates.email:g}/s, sms {rates.sms:g} segments/s",
                flush=True,
            )
            folder = Path(tmp) / name.replace(" ", "-")
            folder.mkdir()
            async with database(args.db, folder) as url:
                await seed_customers(url, args.customers)
                config = write_config(
                    folder,
                    url,
                    smtp,
                    twilio,
                    channels=["email", "sms"],
                    email_width=args.email_width,
                    sms_width=args.sms_width,
                )
                _capacity(config, rates)
                engine = create_engine(url)
                smtp.reset()
                twilio.reset()
                try:
                    with worker_processes(config, args.workers):
                        figures[name] = await scenario(config, engine)
                finally:
                    await engine.dispose()
                duplicates = smtp.stats().duplicates + twilio.stats().duplicates
                print(f"  duplicates at the peers: {duplicates}", flush=True)
                figures[name]["duplicates"] = duplicates
    return figures
