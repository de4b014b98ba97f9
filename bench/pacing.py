"""`python -m bench pacing`: paced fan-out, an outage notice over an order backlog, and a
resolution mid fan-out, with `notifier worker` processes and the peers in processes of
their own.

The peers enforce a rate a little above the configured capacity (`LIMIT_MARGIN`): what
slips past the pace is answered 454 (SMTP) or 429 (Twilio) and counted as a throttle answer.
They note when they accepted each message, its recipient and its subject (email) or body
(SMS). Figures:

- paced fan-out: achieved rate per channel at the peer (SMS in segments) against the
  configured capacity, throttle answers as a share of requests, and the extra attempts
  (outbox attempts beyond one per sent message);
- a critical incident declared while an order backlog waits: its first message after the
  declaration, its last, and what the dry run's forecast said for it (from the outbox's
  `sent_at`, recorded after the provider's acceptance);
- a resolution `--resolve-after` seconds into a paced fan-out, measured at the peers: per
  channel, customers whose declaration was accepted after their resolution (must be 0),
  and, for information, declarations accepted after the operator resolved the incident
  (handed over before it, or on their way).
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

from bench.peers import Accepted, Peer
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
from notifier.sinks.twilio_standin import count_segments
from notifier.store.db import create_engine
from notifier.store.tables import incidents, outbox

_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)
TITLE = "Satellite radio signal outage"
# The peers' limits, as a share of the configured capacity: a little above it, so that the
# pace is what holds the rate and a throttle answer means the pace slipped.
LIMIT_MARGIN = 1.1
# The resolution, as the shipped rules send it (templates incident_resolved).
RESOLVED_RULES = """
[[rule]]
name = "resolved-email"
on = "incident.resolved"
audience = "affected"
channels = ["email"]
template = "incident_resolved"

[[rule]]
name = "resolved-sms"
on = "incident.resolved"
audience = "affected"
channels = ["sms"]
template = "incident_resolved"
"""
# How a resolution reads (en, fr): an email's Subject starts with these, an SMS has them.
_RESOLVED_SUBJECT = ("Fixed:", "Réparé :")
_RESOLVED_SMS = (": fixed (", ": c'est réparé (")


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
    args = ["incident", "declare", "--title", TITLE]
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
    throttled_before = {channel: peer.throttled() for channel, peer in peers.items()}
    incident = _declare(config, "major")
    await _wait_idle(engine, incident["id"])
    figures: dict[str, Any] = {"extra_attempts": await _extra_attempts(engine)}
    for channel, configured in (("email", rates.email), ("sms", rates.sms)):
        # The peer's own clock of acceptances: the outbox records outcomes in batches.
        accepted = sorted(peers[channel].accepted(), key=lambda item: item.at)
        # Email: messages; SMS: segments, as the capacity counts them.
        units = [1 if channel == "email" else count_segments(item.text) for item in accepted]
        span = accepted[-1].at - accepted[0].at if len(accepted) > 1 else 0.0
        # From the first acceptance to the last: everything but the first one's units.
        achieved = (sum(units) - units[0]) / span if span > 0 else 0.0
        refused = peers[channel].throttled() - throttled_before[channel]
        requests = len(accepted) + refused
        share = refused / requests * 100 if requests else 0.0
        unit = "messages" if channel == "email" else "segments"
        print(
            f"  {channel}: {len(accepted):,} messages ({sum(units):,} {unit}) accepted at the "
            f"peer in {span:.1f} s, achieved {achieved:.1f} {unit}/s against {configured:g}/s "
            f"configured ({achieved / configured:.3f}); throttle answers {refused} "
            f"({share:.2f} % of {requests:,} requests; peer limit {configured * LIMIT_MARGIN:g}/s)",
            flush=True,
        )
        figures[channel] = {
            "accepted": len(accepted),
            "units": sum(units),
            "rate": achieved,
            "configured": configured,
            "ratio": achieved / configured,
            "throttle_answers": refused,
            "throttle_share": share / 100,
        }
    print(
        f"  extra attempts (outbox attempts beyond one per sent message): "
        f"{figures['extra_attempts']}",
        flush=True,
    )
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


def _is_resolution(channel: str, text: str) -> bool:
    if channel == "email":
        return text.startswith(_RESOLVED_SUBJECT)
    return any(marker in text for marker in _RESOLVED_SMS)


def _at_the_customers(
    channel: str, accepted: list[Accepted], resolved_at: float, returned: float
) -> dict[str, int]:
    """Per customer (recipient), the acceptance times at the peer of the declaration and of
    the resolution: how many got the declaration after the resolution. Also declarations
    accepted after the resolution's time (`resolved_at`, taken when the command began its
    work) and after the command returned (`returned`: its transaction, which supersedes
    what waits, had committed)."""
    declared: dict[str, list[float]] = {}
    resolved: dict[str, list[float]] = {}
    for item in accepted:
        if TITLE not in item.text:  # not this incident's news (an operations alert)
            continue
        kind = resolved if _is_resolution(channel, item.text) else declared
        kind.setdefault(item.recipient, []).append(item.at)
    after_their_resolution = sum(
        1
        for recipient, times in declared.items()
        if recipient in resolved and max(times) > min(resolved[recipient])
    )
    return {
        "declarations": sum(len(times) for times in declared.values()),
        "resolutions": sum(len(times) for times in resolved.values()),
        "customers_declaration_after_their_resolution": after_their_resolution,
        "declarations_without_resolution": sum(1 for r in declared if r not in resolved),
        "declarations_accepted_after_resolve": sum(
            1 for times in declared.values() for at in times if at > resolved_at
        ),
        "declarations_accepted_after_resolve_returned": sum(
            1 for times in declared.values() for at in times if at > returned
        ),
    }


async def _resolution(
    config: Path, engine: AsyncEngine, after: float, peers: dict[str, Peer]
) -> dict[str, Any]:
    started = time.time()
    incident = _declare(config, "major")
    await asyncio.sleep(after)  # the benchmark's scenario: resolve this far into the fan-out
    asked = time.time()
    _cli(config, "incident", "resolve", str(incident["id"]), "--cause", "Fixed", "--json")
    returned = time.time()
    await _wait_idle(engine, incident["id"])
    async with engine.connect() as conn:
        resolved_at = (
            await conn.execute(
                select(incidents.c.resolved_at).where(incidents.c.id == incident["id"])
            )
        ).scalar_one()
        superseded = (
            await conn.execute(
                select(func.count()).where(
                    outbox.c.subject_type == "incident",
                    outbox.c.subject_id == str(incident["id"]),
                    outbox.c.status == DeliveryStatus.SUPERSEDED.value,
                )
            )
        ).scalar_one()
    resolved = (resolved_at if resolved_at.tzinfo else resolved_at.replace(tzinfo=UTC)).timestamp()
    figures: dict[str, Any] = {
        "superseded": int(superseded),
        "resolve_command": {
            "resolved_at_after_start": resolved - asked,
            "returned_after_resolved_at": returned - resolved,
        },
    }
    print(
        f"  the resolve command: started {asked - started:.1f} s after the declare command; its "
        f"resolved_at {resolved - asked:.1f} s after it started; it returned (committed) "
        f"{returned - resolved:.1f} s after its resolved_at",
        flush=True,
    )
    for channel in ("email", "sms"):
        found = _at_the_customers(channel, peers[channel].accepted(started), resolved, returned)
        figures[channel] = found
        print(
            f"  {channel}: resolved {after:g} s in; at the peer {found['declarations']:,} "
            f"declarations and {found['resolutions']:,} resolutions accepted; customers whose "
            f"declaration was accepted after their resolution: "
            f"{found['customers_declaration_after_their_resolution']} (must be 0); "
            f"declarations accepted after the operator resolved (resolved_at): "
            f"{found['declarations_accepted_after_resolve']}, after the resolve command "
            f"returned: {found['declarations_accepted_after_resolve_returned']} (information: "
            f"handed over before, or on their way); declarations with no resolution at the "
            f"peer: "
            f"{found['declarations_without_resolution']}",
            flush=True,
        )
    print(f"  {superseded:,} unsent messages superseded by the resolution", flush=True)
    return figures


async def run(args: Any) -> dict[str, Any]:
    rates = Rates(email=args.email_rate, sms=args.sms_rate)
    figures: dict[str, Any] = {}

    async def paced(config: Path, engine: AsyncEngine) -> dict[str, Any]:
        return await _paced(config, engine, rates, peers)

    async def backlog(config: Path, engine: AsyncEngine) -> dict[str, Any]:
        return await _backlog(config, engine, args.backlog)

    async def resolution(config: Path, engine: AsyncEngine) -> dict[str, Any]:
        return await _resolution(config, engine, args.resolve_after, peers)

    scenarios = (
        ("paced fan-out", paced),
        ("critical over a backlog", backlog),
        ("resolution mid fan-out", resolution),
    )
    chosen = set(args.scenarios.split(",")) if args.scenarios else None
    run_these = [
        (name, scenario)
        for name, scenario in scenarios
        if chosen is None or name.split()[0] in chosen
    ]
    with (
        Peer.start("smtp", record=True) as smtp,
        Peer.start("twilio", record=True) as twilio,
        workdir() as tmp,
    ):
        peers = {"email": smtp, "sms": twilio}
        # A little above the capacity: beyond it, 454 (SMTP) and 429 (Twilio, per request;
        # a request carries at least one segment, so the segment rate stays under it).
        smtp.limit(rates.email * LIMIT_MARGIN)
        twilio.limit(rates.sms * LIMIT_MARGIN)
        for name, scenario in run_these:
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
                    extra_rules=RESOLVED_RULES,
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
