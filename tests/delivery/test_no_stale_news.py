"""No stale news: what is still ours when the subject moves on is superseded, what has a
validity expires unsent, and what is handed to Twilio carries a ValidityPeriod.

The Twilio stand-in records arrivals in order; the outbox says which rule each one was."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.email import EmailChannel
from notifier.channels.sms import SmsChannel
from notifier.clock import VirtualClock
from notifier.config import CapacitySettings, EmailSettings, SmsSettings
from notifier.domain.messages import ChannelName
from notifier.engine import RuleSet
from notifier.outbox.dispatcher import Dispatcher
from notifier.outbox.enqueue import enqueue
from notifier.outbox.retry import RetryPolicy
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from notifier.store.tables import outbox
from tests.engine.helpers import only_error, rule_toml
from tests.harness import harness
from tests.scale.test_claims import NOW, row

RULES = Path(__file__).resolve().parents[2] / "rules"


def _audience(n: int) -> str:
    lines = ["id,name,email,phone,locale,timezone,services,opt_out"]
    lines += [
        f"c{i:03d},Customer {i},c{i}@example.com,+1201555{i:04d},en,UTC,satellite-radio,"
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"


async def _rules_by_provider_id(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.provider_id, outbox.c.rule).where(outbox.c.provider_id.is_not(None))
        )
        return {provider_id: rule for provider_id, rule in rows}


@pytest.mark.parametrize("moved_on", ["resolved", "updated"])
async def test_nobody_hears_old_news_after_the_new(
    db_url: str, tmp_path: Path, moved_on: str
) -> None:
    """A paced SMS fan-out (1 segment/s) of a declaration, then the subject moves on
    mid-way (resolved; or a critical incident's new ETA): nobody receives the declaration
    after the news that replaced it, and everyone not yet told hears the new news."""
    async with harness(db_url) as h:
        h.app.settings.sms.capacity = CapacitySettings(rate=1)
        await h.load_customers(tmp_path, _audience(30))
        start = h.clock.now()
        incident = await incidents.declare(
            h.app.engine, title="Radio outage", severity="critical",
            affects=["satellite-radio"], now=start, eta=start + timedelta(hours=2),
        )
        worker = Worker(h.app)
        try:
            await h.run_until(start + timedelta(seconds=8), worker)
            told_before = len(h.twilio.messages)
            assert 0 < told_before < 30, told_before  # mid-way through the fan-out
            now = h.clock.now()
            if moved_on == "resolved":
                await incidents.resolve(h.app.engine, incident.id, now=now, cause="Fixed")
            else:
                await incidents.update(
                    h.app.engine,
                    incident.id,
                    now=now,
                    message="New ETA",
                    eta=now + timedelta(hours=3),
                )
            await h.run_until(now + timedelta(minutes=5), worker)
        finally:
            await worker.close()
        rule_of = await _rules_by_provider_id(h.app.engine)
    arrivals = [(m.to, rule_of[m.sid]) for m in h.twilio.messages]
    newer = f"incident-{moved_on}-sms"
    first_newer: dict[str, int] = {}
    for index, (to, rule) in enumerate(arrivals):
        if rule == newer:
            first_newer.setdefault(to, index)
    late = [
        (index, to)
        for index, (to, rule) in enumerate(arrivals)
        if rule == "incident-declared-sms" and to in first_newer and index > first_newer[to]
    ]
    assert late == []
    declared_after = [
        to for to, rule in arrivals[told_before:] if rule == "incident-declared-sms"
    ]
    assert declared_after == [], "declarations kept going out after the subject moved on"
    assert len(first_newer) == 30  # everyone hears the latest news
    assert len({to for to, _ in arrivals}) == 30


def test_a_rule_validity_is_a_duration_a_provider_can_keep() -> None:
    (rule,) = RuleSet.from_texts({"a.toml": rule_toml(validity="2h")}).rules
    assert rule.validity == timedelta(hours=2)
    assert only_error(validity="11h").endswith(
        "validity: '11h' is longer than a provider keeps a message (10h)"
    )
    shipped = {rule.name: rule for rule in RuleSet.load(RULES).rules}
    assert shipped["incident-declared-sms"].validity == timedelta(hours=2)


def _dispatcher(
    engine: AsyncEngine, clock: VirtualClock, sms: SmsChannel, email: EmailChannel
) -> Dispatcher:
    return Dispatcher(
        engine,
        {ChannelName.SMS: sms, ChannelName.EMAIL: email},
        clock=clock,
        worker_id="w",
        retry=RetryPolicy(),
        lease=timedelta(seconds=60),
    )


async def test_a_message_past_its_validity_is_not_handed_over_on_any_channel(
    engine: AsyncEngine,
    sms_settings: SmsSettings,
    twilio_standin: TwilioStandin,
    email_settings: EmailSettings,
    smtp_sink: SmtpSink,
) -> None:
    """Late news is worse than none: expired, it is cancelled unsent, email and SMS alike;
    still valid, an SMS tells Twilio how long it may keep it queued (ValidityPeriod)."""
    clock = VirtualClock(NOW + timedelta(minutes=30))
    rows = []
    stale, fresh = NOW + timedelta(minutes=20), NOW + timedelta(hours=2)
    for channel in (ChannelName.EMAIL, ChannelName.SMS):
        rows += [
            replace(row(1, channel), key=f"stale-{channel}", expires_at=stale),
            replace(row(2, channel), key=f"fresh-{channel}", expires_at=fresh),
            replace(row(3, channel), key=f"open-{channel}"),
        ]
    async with engine.begin() as conn:
        await enqueue(conn, rows)
    async with SmsChannel(sms_settings) as sms, EmailChannel(email_settings) as email:
        assert await _dispatcher(engine, clock, sms, email).run_once() == len(rows)
    async with engine.connect() as conn:
        found = await conn.execute(
            select(outbox.c.idempotency_key, outbox.c.status, outbox.c.reason)
        )
        status, reasons = {}, {}
        for key, state, reason in found:
            status[key], reasons[key] = state, reason
    for channel in (ChannelName.EMAIL, ChannelName.SMS):
        assert status[f"stale-{channel}"] == "cancelled"
        assert "expired unsent" in reasons[f"stale-{channel}"]
        assert status[f"fresh-{channel}"] == status[f"open-{channel}"] == "sent"
    validity = {m.to: m.validity_period for m in twilio_standin.messages}
    assert validity == {"+15550000002": 90 * 60, "+15550000003": None}
    assert len(smtp_sink.messages) == 2


async def test_a_resolution_supersedes_the_unsent_at_once(db_url: str, tmp_path: Path) -> None:
    """The resolution makes every waiting message about the incident stale in its own
    transaction, on every channel: no worker can send the declaration while the
    resolution waits to be planned."""
    async with harness(db_url) as h:
        h.app.settings.sms.capacity = CapacitySettings(rate=1)
        h.app.settings.email.capacity = CapacitySettings(rate=1)
        await h.load_customers(tmp_path, _audience(12))
        start = h.clock.now()
        incident = await incidents.declare(
            h.app.engine, title="Radio outage", severity="major",
            affects=["satellite-radio"], now=start,
        )
        worker = Worker(h.app)
        try:
            await h.run_until(start + timedelta(seconds=3), worker)
        finally:
            await worker.close()
        await incidents.resolve(h.app.engine, incident.id, now=h.clock.now(), cause="Fixed")
        async with h.app.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.channel, outbox.c.status, outbox.c.reason).where(
                        outbox.c.subject_id == str(incident.id)
                    )
                )
            ).all()
    waiting = [r for r in rows if r.status in ("pending", "deferred", "grouping")]
    assert waiting == []
    superseded = {r.channel for r in rows if r.status == "superseded"}
    assert superseded == {"email", "sms"}
    assert {r.reason for r in rows if r.status == "superseded"} == {
        "superseded by the resolution"
    }
