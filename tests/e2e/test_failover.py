"""The worst day for the providers, end to end on a virtual clock: a throttling relay and
Twilio account, both providers refusing and then back, the primary relay killed in the
middle of a fan-out. Nothing fails, nothing is lost, nothing goes twice.

The stand-ins' rates run on the test's virtual clock (`clock=`), so how much passes does
not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from notifier.clock import VirtualClock
from notifier.config import EmailRelaySettings, Settings, SmsAccountSettings
from notifier.runtime.app import App
from notifier.runtime.simulation import advance_to
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.services.customers import import_customers
from notifier.services.health import queue_figures
from notifier.services.report import incident_report
from notifier.sinks import SmtpSink, TwilioStandin
from notifier.store.tables import outbox
from tests.harness import SID, START, TOKEN, settings_for
from tests.time.rules_fixtures import rules_dir
from tests.waiting import wait_for

RULES = """
[[rule]]
name = "declared-email"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_declared"

[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
template = "incident_declared"
"""


def _customers(n: int) -> str:
    return "id,name,email,phone,locale,timezone,services\n" + "".join(
        f"c-{i:04},Customer {i},c{i}@example.com,+1201555{i:04},en,UTC,radio\n" for i in range(n)
    )


@dataclass
class Rig:
    app: App
    clock: VirtualClock
    relays: list[SmtpSink]
    accounts: list[TwilioStandin]

    def seconds(self) -> float:
        """The virtual clock in seconds, for the stand-ins' rates."""
        return self.clock.now().timestamp()

    async def declare(self, title: str = "Outage") -> None:
        await incidents.declare(
            self.app.engine, title=title, severity="major", affects=["radio"], now=self.clock.now()
        )

    async def rows(self) -> list[Any]:
        async with self.app.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(
                            outbox.c.customer_id,
                            outbox.c.channel,
                            outbox.c.status,
                            outbox.c.provider,
                            outbox.c.attempts,
                            outbox.c.reason,
                            outbox.c.rule,
                        )
                    )
                ).all()
            )

    async def customer_rows(self) -> list[Any]:
        return [r for r in await self.rows() if r.customer_id != "operations"]


@asynccontextmanager
async def rig(
    tmp_path: Path, customers: int, *, relays: int = 1, accounts: int = 1, **delivery: Any
) -> AsyncIterator[Rig]:
    sinks = [SmtpSink() for _ in range(relays)]
    standins = [TwilioStandin(account_sid=SID, auth_token=TOKEN) for _ in range(accounts)]
    for sink in sinks:
        sink.start()
    for standin in standins:
        await standin.start()
    base = settings_for(
        f"sqlite+aiosqlite:///{tmp_path / 'failover.db'}",
        sinks[0],
        standins[0],
        rules=rules_dir(tmp_path, RULES),
        **delivery,
    )
    settings = Settings(
        **{
            **base.model_dump(),
            "email": base.email.model_copy(
                update={
                    "providers": [
                        EmailRelaySettings(port=sink.port, name=f"relay-{i}")
                        for i, sink in enumerate(sinks[1:], start=2)
                    ]
                }
            ),
            "sms": base.sms.model_copy(
                update={
                    "providers": [
                        SmsAccountSettings(api_base_url=s.base_url, name=f"sms-{i}")
                        for i, s in enumerate(standins[1:], start=2)
                    ]
                }
            ),
        }
    )
    clock = VirtualClock(START)
    app = await App.open(settings, clock=clock)
    path = tmp_path / "customers.csv"
    path.write_text(_customers(customers), encoding="utf-8")
    report = await import_customers(
        app.engine,
        path,
        default_region="US",
        default_locale="en",
        default_timezone="UTC",
        now=clock.now(),
    )
    assert report.errors == []
    try:
        yield Rig(app, clock, sinks, standins)
    finally:
        await app.close()
        for standin in standins:
            await standin.stop()
        for sink in sinks:
            sink.stop()


def _emails(sinks: list[SmtpSink]) -> Counter[str]:
    return Counter(r for sink in sinks for m in sink.messages for r in m.rcpt_tos)


def _texts(standins: list[TwilioStandin]) -> Counter[str]:
    return Counter(m.to for s in standins for m in s.messages)


async def test_throttled_relay_and_account_fail_nothing_and_send_everything_once(
    tmp_path: Path,
) -> None:
    """The issue's day: a relay at 14 emails/s and Twilio at 30 SMS/s, against a fan-out
    that would go much faster. With fewer attempts than throttle answers, nothing fails."""
    async with rig(tmp_path, 120, max_attempts=2) as r:
        r.relays[0].limit(14, burst=14, clock=r.seconds)
        r.accounts[0].limit(30, burst=30, clock=r.seconds)
        await r.declare()
        worker = Worker(r.app)
        try:
            await advance_to(worker, r.clock, START + timedelta(hours=1))
        finally:
            await worker.close()
        rows = await r.customer_rows()
        assert Counter(row.status for row in rows) == Counter({"sent": 240})
        # The stand-ins did throttle: these messages waited, without spending attempts.
        assert r.relays[0].throttled > 0 and r.accounts[0].throttled > 0
        assert {row.attempts for row in rows} == {1}
        assert _emails(r.relays) == Counter({f"c{i}@example.com": 1 for i in range(120)})
        assert _texts(r.accounts) == Counter({f"+1201555{i:04}": 1 for i in range(120)})
        assert {row.provider for row in rows} == {"relay-1", "sms-1"}


async def test_twilio_queue_full_21611_waits_and_everything_goes(tmp_path: Path) -> None:
    async with rig(tmp_path, 40, max_attempts=2) as r:
        r.accounts[0].queue(5, depth=10, clock=r.seconds)
        await r.declare()
        worker = Worker(r.app)
        try:
            await advance_to(worker, r.clock, START + timedelta(hours=1))
        finally:
            await worker.close()
        rows = [row for row in await r.customer_rows() if row.channel == "sms"]
        assert Counter(row.status for row in rows) == Counter({"sent": 40})
        assert r.accounts[0].queue_full > 0
        assert _texts(r.accounts) == Counter({f"+1201555{i:04}": 1 for i in range(40)})


async def test_every_provider_refusing_then_back_fails_nothing_and_alerts_once(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, 10, relays=2, accounts=2, max_attempts=2, breaker_failures=2) as r:
        for sink in r.relays:
            sink.switch_off()
        for standin in r.accounts:
            standin.switch_off()
        await r.declare()
        worker = Worker(r.app)
        try:
            # Ten minutes of everything down.
            await advance_to(worker, r.clock, START + timedelta(minutes=10))
            rows = await r.customer_rows()
            assert Counter(row.status for row in rows) == Counter({"pending": 20})
            assert {row.attempts for row in rows} == {0}  # waiting spent no attempt
            assert all("waiting for the provider" in str(row.reason) for row in rows)
            alerts = [row for row in await r.rows() if row.customer_id == "operations"]
            assert sorted(row.rule for row in alerts) == ["providers-down-operations"] * 2
            # Back.
            for sink in r.relays:
                sink.switch_on()
            for standin in r.accounts:
                standin.switch_on()
            await advance_to(worker, r.clock, START + timedelta(hours=1))
        finally:
            await worker.close()
        rows = await r.customer_rows()
        assert Counter(row.status for row in rows) == Counter({"sent": 20})
        assert _emails(r.relays) - Counter({"ops@example.com": 2}) == Counter(
            {f"c{i}@example.com": 1 for i in range(10)}
        )
        assert _texts(r.accounts) == Counter({f"+1201555{i:04}": 1 for i in range(10)})
        # One alert per channel for the whole outage, not one per message, and it went.
        assert _emails(r.relays)["ops@example.com"] == 2


async def test_primary_relay_killed_mid_fanout_secondary_carries_then_traffic_returns(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, 300, relays=2, breaker_failures=3) as r:
        primary, secondary = r.relays
        await r.declare("First")
        worker = Worker(r.app)

        async def kill_primary_after(count: int) -> None:
            await wait_for(lambda: primary.received >= count, what=f"{count} at the primary")
            primary.switch_off()

        try:
            killer = asyncio.create_task(kill_primary_after(20))
            await advance_to(worker, r.clock, START + timedelta(minutes=5))
            await killer
            emails = [row for row in await r.customer_rows() if row.channel == "email"]
            assert Counter(row.status for row in emails) == Counter({"sent": 300})
            carried = Counter(row.provider for row in emails)
            assert carried["relay-1"] >= 20 and carried["relay-2"] > 0
            assert carried["relay-1"] + carried["relay-2"] == 300
            # Nothing lost, nothing twice, across both relays.
            assert _emails(r.relays) == Counter({f"c{i}@example.com": 1 for i in range(300)})
            assert carried["relay-1"] == primary.received
            assert carried["relay-2"] == secondary.received
            # The incident's report and /metrics say which relay carried what.
            report = await incident_report(r.app.engine, 1, now=r.clock.now())
            assert report["channels"]["email"]["sent_by_provider"] == dict(carried)
            figures = await queue_figures(r.app.engine, r.clock.now())
            assert figures.by_provider[("email", "relay-2")] == carried["relay-2"]

            # The primary comes back. After the cool-down the first message through it is
            # the probe (the rest of that batch, sent at the same moment, still take the
            # secondary); once the probe went through, traffic returns to the primary.
            primary.switch_on()
            r.clock.advance(timedelta(minutes=1))
            before = primary.received
            await r.declare("Second")
            await advance_to(worker, r.clock, START + timedelta(minutes=15))
            assert primary.received > before
            after_probe = secondary.received
            await r.declare("Third")
            await advance_to(worker, r.clock, START + timedelta(minutes=30))
        finally:
            await worker.close()
        sent = [
            row
            for row in await r.customer_rows()
            if row.channel == "email" and row.status == "sent"
        ]
        assert len(sent) == 900
        assert secondary.received == after_probe  # nothing more through the secondary
        assert primary.received + secondary.received == 900
        assert Counter(row.provider for row in sent) == Counter(
            {"relay-1": primary.received, "relay-2": secondary.received}
        )
