"""The forecast: how many messages, at what pace, and when the last customer will have
heard; the dry run says it from the real audience, sizes and capacities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.config import CapacitySettings
from notifier.delivery.forecast import finish_time, forecast_channel
from notifier.delivery.limiter import Capacity
from notifier.delivery.pacing import Account, cost_of
from notifier.domain.messages import ChannelName
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.services.dry_run import declare_dry_run
from notifier.store.tables import outbox
from tests.harness import harness

START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def _account(rate: float, quota: int | None = None, queue: float = 36_000) -> Account:
    return Account("sms:x", Capacity(rate=rate, daily_quota=quota), queue)


def test_the_issues_example() -> None:
    timing = forecast_channel(
        ChannelName.SMS,
        groups={90: (206_000, 412_000)},
        ahead={},
        account=_account(100),
        start=START,
    )
    assert timing.done_by == START + timedelta(seconds=4120)
    assert timing.summary() == "SMS: 412,000 segments at 100/s, everyone by 23:08:40 UTC"
    assert timing.warnings == ()


def test_each_priority_waits_only_for_what_goes_before_it() -> None:
    timing = forecast_channel(
        ChannelName.EMAIL,
        groups={90: (100, 100), 30: (50, 50)},
        ahead={50: 1000, 90: 20},  # an order backlog, and a little urgent news
        account=_account(10),
        start=START,
    )
    done = {g.priority: g.done_by for g in timing.groups}
    assert done[90] == START + timedelta(seconds=(20 + 100) / 10)  # not behind the orders
    assert done[30] == START + timedelta(seconds=(1020 + 100 + 50) / 10)
    assert timing.done_by == done[30] and timing.ahead == 1020
    assert "after 1,020 queued" in timing.summary()


def test_warnings_after_the_eta_and_beyond_the_providers_queue() -> None:
    timing = forecast_channel(
        ChannelName.SMS,
        groups={90: (40_000, 40_000)},
        ahead={},
        account=_account(1),
        start=START,
        eta=START + timedelta(hours=2),
    )
    first, second = timing.warnings
    assert first.startswith("the last customer hears at 09:06:40 UTC, after the ETA (00:00 UTC)")
    assert second.startswith("more than 10h of the provider's throughput")


def test_a_daily_quota_carries_the_rest_to_the_next_days() -> None:
    account = _account(10, quota=1000)
    assert finish_time(START, 500, account) == START + timedelta(seconds=50)
    midnight = datetime(2026, 3, 2, tzinfo=UTC)
    assert finish_time(START, 1500, account) == midnight + timedelta(seconds=50)
    assert finish_time(START, 3000, account) == midnight + timedelta(days=1, seconds=100)


def test_an_unpaced_channel_promises_nothing() -> None:
    timing = forecast_channel(
        ChannelName.EMAIL, groups={90: (5, 5)}, ahead={}, account=None, start=START
    )
    assert timing.done_by is None
    assert timing.summary() == "Email: 5 messages, not paced (no capacity set): handed over at once"


async def test_the_dry_run_forecasts_what_the_declaration_then_sends(
    db_url: str, tmp_path: Path
) -> None:
    """The dry run's segments are those the real fan-out renders (French in UCS-2 too),
    and its time is the capacity's arithmetic over them."""
    async with harness(db_url) as h:
        h.app.settings.sms.capacity = CapacitySettings(rate=0.5)
        h.app.settings.email.capacity = CapacitySettings(rate=2)
        await h.load_customers(tmp_path)
        now = h.clock.now()
        fields = {
            "title": "Satellite radio signal outage — «rétabli» bientôt",
            "severity": "major",
            "affects": ["satellite-radio"],
            "eta": now + timedelta(seconds=5),
        }
        dry = await declare_dry_run(h.app, now=now, **fields)
        sms, email = dry.channels["sms"].timing, dry.channels["email"].timing
        assert sms is not None and email is not None
        await incidents.declare(h.app.engine, now=now, **fields)  # type: ignore[arg-type]
        worker = Worker(h.app)
        try:
            await worker.step()
        finally:
            await worker.close()
        async with h.app.engine.connect() as conn:
            planned = (
                await conn.execute(
                    select(outbox.c.channel, outbox.c.body_text).where(
                        outbox.c.status.in_(["pending", "sending", "sent"])
                    )
                )
            ).all()
    texts = [text for channel, text in planned if channel == "sms"]
    assert sms.messages == len(texts) == 3
    assert sms.units == sum(cost_of(ChannelName.SMS, t) for t in texts)
    assert sms.units > sms.messages  # the French ones are long in UCS-2
    assert sms.done_by == now + timedelta(seconds=sms.units / 0.5)
    assert email.done_by == now + timedelta(seconds=email.messages / 2)
    assert any("after the ETA" in w for w in sms.warnings)
    assert dry.as_json()["channels"]["sms"]["timing"]["summary"] == sms.summary()
