"""Peer faults: a `notifier worker` process fans an incident out (email and SMS) to peers in
other processes that fail on purpose.

The SMTP peer answers 421 and 451 to a share of messages, drops the connection every
`drop_every` messages and stalls past the email timeout now and then; it refuses a few
recipients with 550. The Twilio stand-in answers bursts of 429 (with Retry-After), 500
and 503, stalls past the SMS timeout now and then (and creates the message anyway, as
Twilio may), and refuses a few numbers with 21211 (invalid) and 21610 (unsubscribed).

At the end every message whose faults were transient has reached its peer and is `sent`,
every permanent one is `failed` with its error code, a 21610 customer is opted out of SMS,
nothing is left waiting, and no 429 was retried before its Retry-After.

Sizes (environment variables):
    RELIABILITY_FAULT_CUSTOMERS (default 400: 800 messages)
    RELIABILITY_SEED (random seed of the faults; default: random, printed)
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.peers import PeerEvent, PeerStats, SmtpFaults, TwilioFaults
from bench.setup import customer_row
from notifier.services import incidents
from notifier.store.db import create_engine
from notifier.store.preferences import opt_out_choices
from notifier.store.tables import outbox
from tests.harness import harness
from tests.reliability.procs import (
    WorkerProcess,
    declare_incident,
    env_int,
    final_stats,
    machine,
    outbox_counts,
    prepare_database,
    start_peers,
    write_config,
)
from tests.time.rules_fixtures import rules_dir
from tests.waiting import wait_for

CUSTOMERS = env_int("RELIABILITY_FAULT_CUSTOMERS", 400)
EMAIL_TIMEOUT = 1.5  # seconds; the peers' stalls are longer
SMS_TIMEOUT = 1.5
STALL = 2.5
RETRY_AFTER = 2  # seconds, the Retry-After of every 429
MAX_ATTEMPTS = 12
BACKOFF_BASE = 0.2  # seconds: 0.2, 0.4, 0.8, 1.6, then 2.0 (BACKOFF_MAX)
BACKOFF_MAX = 2.0  # not below RETRY_AFTER: the policy caps Retry-After at the maximum delay
# Recipients refused for good (how many of each).
REJECTED_EMAILS = 4  # 550 at RCPT TO
INVALID_NUMBERS = 3  # Twilio 21211
UNSUBSCRIBED_NUMBERS = 3  # Twilio 21610
ACCEPTED = {"250", "stall-250", "201", "stall-201"}
# Seconds: only turns a hang into a failure; how long draining took is reported, not judged.
DRAIN_WITHIN = 300.0


@dataclass
class FaultRun:
    customers: int
    seed: int
    seconds: float
    statuses: dict[str, int]
    attempts: dict[str, list[int]]  # channel -> attempts of each outbox row
    injected: dict[str, Counter[str]]  # channel -> peer answers by kind
    stats: dict[str, PeerStats]
    lost: dict[str, int]
    min_gap_after_429: float | None
    retried_429: int

    def report(self) -> str:
        parts = [
            f"[peer faults sqlite] {machine()}; {self.customers} customers x 2 channels = "
            f"{2 * self.customers} messages (seed {self.seed}); {self.seconds:.1f} s from "
            f"declare to drained; outbox {self.statuses}"
        ]
        for channel, values in self.attempts.items():
            spread = dict(sorted(Counter(values).items()))
            answers = dict(sorted(self.injected[channel].items()))
            parts.append(
                f"{channel}: attempts mean {statistics.fmean(values):.2f} max {max(values)} "
                f"distribution {spread}; peer answers {answers}"
                f"; accepted {self.stats[channel].accepted} distinct "
                f"{self.stats[channel].distinct} duplicates {self.stats[channel].duplicates}; "
                f"lost {self.lost[channel]}"
            )
        gap = "none" if self.min_gap_after_429 is None else f"{self.min_gap_after_429:.2f} s"
        parts.append(
            f"429 then retried: {self.retried_429}, shortest wait {gap} (Retry-After "
            f"{RETRY_AFTER} s)"
        )
        return "\n  ".join(parts)


def _seed() -> int:
    value = os.environ.get("RELIABILITY_SEED")
    return int(value) if value else random.SystemRandom().randrange(1_000_000)


@dataclass(frozen=True)
class Permanent:
    emails: dict[str, str]  # address -> customer id, refused with 550
    invalid: dict[str, str]  # number -> customer id, 21211
    unsubscribed: dict[str, str]  # number -> customer id, 21610


def _permanent(rng: random.Random, customers: int) -> Permanent:
    picked = rng.sample(range(customers), REJECTED_EMAILS + INVALID_NUMBERS + UNSUBSCRIBED_NUMBERS)
    rows = [customer_row(i) for i in picked]
    emails = rows[:REJECTED_EMAILS]
    invalid = rows[REJECTED_EMAILS : REJECTED_EMAILS + INVALID_NUMBERS]
    unsubscribed = rows[REJECTED_EMAILS + INVALID_NUMBERS :]
    return Permanent(
        emails={row[2]: row[0] for row in emails},
        invalid={row[3]: row[0] for row in invalid},
        unsubscribed={row[3]: row[0] for row in unsubscribed},
    )


async def _wait_drained(url: str, count: int) -> None:
    seen: dict[str, int] = {}

    async def drained() -> bool:
        seen.clear()
        seen.update(await outbox_counts(url))
        return seen.get("sent", 0) + seen.get("failed", 0) >= count

    await wait_for(
        drained,
        what=lambda: f"all {count} messages sent or failed (outbox {seen})",
        within=DRAIN_WITHIN,
        interval=0.1,
    )


async def _outbox_rows(url: str) -> list[tuple[str, str, str, int, str | None, str | None, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            query = select(
                outbox.c.channel,
                outbox.c.recipient,
                outbox.c.status,
                outbox.c.attempts,
                outbox.c.error_code,
                outbox.c.reason,
                outbox.c.customer_id,
            )
            return [
                (str(c), str(r), str(s), int(a), e, reason, str(cid))
                for c, r, s, a, e, reason, cid in (await conn.execute(query)).all()
            ]
    finally:
        await engine.dispose()


async def _opt_outs(url: str, customer_ids: list[str]) -> dict[str, set[tuple[str, str]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {cid: await opt_out_choices(conn, cid) for cid in customer_ids}
    finally:
        await engine.dispose()


def _retry_after_gaps(events: list[PeerEvent]) -> list[float]:
    """For each 429 answered to a number, the wait until that number's next request.

    By arrival: a stalled request is noted when it arrives ("stall") and again when it is
    finally answered ("stall-201"); that answer may come after a 429 to a retry sent while
    it stalled, but its request came before the 429, so it is no request after it."""
    by_number: dict[str, list[PeerEvent]] = {}
    for event in events:
        if not event.outcome.startswith("stall-"):
            by_number.setdefault(event.recipient, []).append(event)
    gaps = []
    for answers in by_number.values():
        answers.sort(key=lambda e: e.at)
        for before, after in itertools.pairwise(answers):
            if before.outcome == "429":
                gaps.append(after.at - before.at)
    return gaps


async def _fault_run(url: str, workdir: Path, customers: int) -> tuple[FaultRun, Permanent]:
    seed = _seed()
    rng = random.Random(seed)
    print(f"\n[peer faults] seed {seed}")
    permanent = _permanent(rng, customers)
    smtp, twilio = start_peers()
    worker: WorkerProcess | None = None
    try:
        smtp.set_faults(
            SmtpFaults(
                seed=rng.randrange(1 << 30),
                temporary=0.15,  # half 421, half 451
                drop_every=150,
                stall=0.02,
                stall_seconds=STALL,
                reject=tuple((a, "550 5.1.1 no such user") for a in permanent.emails),
            )
        )
        twilio.set_faults(
            TwilioFaults(
                seed=rng.randrange(1 << 30),
                burst_every=100,  # the last 10 of every 100 requests: 429, 500, 503 in turn
                burst_length=10,
                retry_after=str(RETRY_AFTER),
                stall=0.02,
                stall_seconds=STALL,
                fail_numbers=tuple(
                    [(n, 21211) for n in permanent.invalid]
                    + [(n, 21610) for n in permanent.unsubscribed]
                ),
            )
        )
        await prepare_database(url, customers)
        config = write_config(
            workdir,
            url,
            smtp.port,
            twilio.base_url,
            batch_size=100,
            lease_seconds=30.0,
            email_timeout=EMAIL_TIMEOUT,
            sms_timeout=SMS_TIMEOUT,
            max_attempts=MAX_ATTEMPTS,
            backoff_base=BACKOFF_BASE,
            backoff_max=BACKOFF_MAX,
        )
        worker = WorkerProcess(config, workdir / "worker.log")
        await asyncio.to_thread(worker.start)
        started = time.monotonic()
        await declare_incident(url)
        await _wait_drained(url, 2 * customers)
        seconds = time.monotonic() - started
        # A stalled Twilio request answers after its client gave up: with the worker
        # stopped, the counts are final once the peers have answered and closed everything.
        code = await asyncio.to_thread(worker.stop)
        email, sms = await final_stats(smtp, twilio)
        stats = {"email": email, "sms": sms}
        events = {"email": smtp.events(), "sms": twilio.events()}
        statuses = await outbox_counts(url)
    finally:
        code = worker.stop() if worker is not None else 0
        smtp.stop()
        twilio.stop()
    assert code == 0, worker.output() if worker is not None else ""
    rows = await _outbox_rows(url)
    accepted = {
        channel: {e.recipient for e in channel_events if e.outcome in ACCEPTED}
        for channel, channel_events in events.items()
    }
    expected = {
        channel: {r for c, r, *_ in rows if c == channel} - refused
        for channel, refused in (
            ("email", set(permanent.emails)),
            ("sms", set(permanent.invalid) | set(permanent.unsubscribed)),
        )
    }
    gaps = _retry_after_gaps(events["sms"])
    run = FaultRun(
        customers=customers,
        seed=seed,
        seconds=seconds,
        statuses=statuses,
        attempts={
            channel: [a for c, _, _, a, *_ in rows if c == channel] for channel in ("email", "sms")
        },
        injected={
            channel: Counter(e.outcome for e in channel_events)
            for channel, channel_events in events.items()
        },
        stats=stats,
        lost={channel: len(expected[channel] - accepted[channel]) for channel in expected},
        min_gap_after_429=min(gaps, default=None),
        retried_429=len(gaps),
    )
    _check(run, rows, accepted, expected, permanent)
    opted = await _opt_outs(url, [*permanent.unsubscribed.values(), *permanent.invalid.values()])
    for number, cid in permanent.unsubscribed.items():
        assert ("sms", "*") in opted[cid], f"21610 for {number} did not opt {cid} out of SMS"
    for cid in permanent.invalid.values():
        assert not opted[cid], f"21211 must not opt {cid} out: {opted[cid]}"
    return run, permanent


def _check(
    run: FaultRun,
    rows: list[tuple[str, str, str, int, str | None, str | None, str]],
    accepted: dict[str, set[str]],
    expected: dict[str, set[str]],
    permanent: Permanent,
) -> None:
    print(run.report())
    report = run.report()
    failed_count = REJECTED_EMAILS + INVALID_NUMBERS + UNSUBSCRIBED_NUMBERS
    assert run.statuses == {"sent": 2 * run.customers - failed_count, "failed": failed_count}, (
        report
    )
    # Every fault was met (else the run proves less than it says).
    email, sms = run.injected["email"], run.injected["sms"]
    for kind in ("421", "451", "drop", "stall", "550"):
        assert email[kind] > 0, (kind, report)
    for kind in ("429", "500", "503", "stall", "400"):
        assert sms[kind] > 0, (kind, report)
    # Transient: reached the peer, and the row says sent.
    assert run.lost == {"email": 0, "sms": 0}, report
    assert run.stats["email"].distinct == len(expected["email"]), report
    assert run.stats["sms"].distinct == len(expected["sms"]), report
    for channel, recipient, status, *_ in rows:
        if recipient in expected[channel]:
            assert status == "sent", (channel, recipient, status, report)
    # Permanent: never accepted, failed with the peer's code.
    codes = {
        **{("email", a): "550" for a in permanent.emails},
        **{("sms", n): "21211" for n in permanent.invalid},
        **{("sms", n): "21610" for n in permanent.unsubscribed},
    }
    for channel, recipient, status, _attempts, error_code, reason, _cid in rows:
        code = codes.get((channel, recipient))
        if code is not None:
            assert recipient not in accepted[channel], (channel, recipient)
            assert (status, error_code) == ("failed", code), (channel, recipient, status, reason)
            assert reason is not None and code in reason, reason
    # Duplicates only where the sender cannot know: an answer it gave up waiting for.
    for channel in ("email", "sms"):
        late = sum(n for kind, n in run.injected[channel].items() if kind.startswith("stall-"))
        assert run.stats[channel].duplicates <= late, (channel, report)
    # Retry-After: no 429 retried sooner.
    assert run.retried_429 > 0, report
    assert run.min_gap_after_429 is not None and run.min_gap_after_429 >= RETRY_AFTER, report


@pytest.mark.slow
async def test_peer_faults_transient_delivered_permanent_failed_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}"
    await _fault_run(url, tmp_path, CUSTOMERS)


SMS_ONLY = """
[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
template = "incident_declared"
"""
TWO_CUSTOMERS = """id,name,email,phone,locale,timezone,services
c-1,Ann Lee,ann@example.com,+12015550123,en,America/New_York,radio
c-2,Bo Diaz,bo@example.com,+12015550124,en,America/New_York,radio
"""


async def test_21610_opts_the_customer_out_of_sms(tmp_path: Path) -> None:
    """Twilio 21610 (the recipient replied STOP to our number): the row fails with the code,
    the customer is opted out of SMS, and the next incident plans no SMS for them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'optout.db'}"
    async with harness(url, rules=rules_dir(tmp_path, SMS_ONLY)) as h:
        await h.load_customers(tmp_path, TWO_CUSTOMERS)
        h.twilio.fail_number("+12015550123", code=21610)
        h.twilio.fail_number("+12015550124", code=21211)
        for title in ("Outage", "Second outage"):
            await incidents.declare(
                h.app.engine, title=title, severity="major", affects=["radio"], now=h.clock.now()
            )
            await h.drain()
        async with h.app.engine.connect() as conn:
            ann = await opt_out_choices(conn, "c-1")
            bo = await opt_out_choices(conn, "c-2")
            rows = (
                await conn.execute(
                    select(outbox.c.customer_id, outbox.c.status, outbox.c.error_code)
                )
            ).all()
        assert ann == {("sms", "*")}
        assert bo == set()  # an invalid number is not a customer's choice
        assert sorted(tuple(r) for r in rows) == [
            ("c-1", "failed", "21610"),
            ("c-1", "suppressed", None),  # the second incident sent Ann no SMS
            ("c-2", "failed", "21211"),
            ("c-2", "failed", "21211"),
        ]
