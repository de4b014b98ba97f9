"""Pacing: the dispatcher sends no faster than the account's capacity (SMS counted in
segments), the most important first, through the real Twilio client to the stand-in.

Rates are read from the outbox's own record (`sent_at` on a clock the test moves), never
from the wall clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.sms import SmsChannel
from notifier.clock import SystemClock, VirtualClock
from notifier.config import CapacitySettings, Settings, SmsSettings
from notifier.delivery.limiter import Capacity, MemoryLimiter
from notifier.delivery.pacing import Account, Pacer, accounts, cost_of
from notifier.domain.messages import ChannelName
from notifier.outbox.dispatcher import Dispatcher
from notifier.outbox.enqueue import enqueue
from notifier.outbox.retry import RetryPolicy
from notifier.services import incidents
from notifier.sinks.twilio_standin import TwilioStandin
from notifier.store.tables import outbox
from tests.scale.test_claims import NOW, row
from tests.waiting import wait_for

THREE_SEGMENTS = "x" * 400  # GSM-7: 153 + 153 + 94


def _pacer(clock: VirtualClock | SystemClock, rate: float, burst: int = 1) -> Pacer:
    account = Account("sms:test", Capacity(rate=rate, burst=burst), 36_000)
    return Pacer(MemoryLimiter(), {ChannelName.SMS: account}, clock)


def _dispatcher(engine: AsyncEngine, channel: SmsChannel, clock: object, pace: Pacer) -> Dispatcher:
    return Dispatcher(
        engine,
        {ChannelName.SMS: channel},
        clock=clock,  # type: ignore[arg-type]
        worker_id="w",
        retry=RetryPolicy(),
        lease=timedelta(seconds=60),
        pace=pace,
    )


def test_capacity_comes_from_the_settings_per_account() -> None:
    settings = Settings(
        sms={
            "capacity": {"rate": 1, "burst": 2, "daily_quota": 1000},
            "more_from_numbers": ["+15005550007", "+15005550008"],
        },
        email={"capacity": {"rate": 14}},
    )
    paced = accounts(settings)
    assert paced[ChannelName.SMS].capacity == Capacity(rate=3, burst=2, daily_quota=1000)
    assert paced[ChannelName.EMAIL].capacity == Capacity(rate=14)
    service = Settings(sms={"capacity": {"rate": 100}, "messaging_service_sid": "MG" + "0" * 32})
    assert accounts(service)[ChannelName.SMS].capacity.rate == 100  # the pool's rate
    assert accounts(Settings()) == {}  # no rate set: not paced
    assert CapacitySettings().provider_queue == timedelta(hours=10)


def test_an_sms_costs_its_segments_in_its_encoding() -> None:
    assert cost_of(ChannelName.SMS, THREE_SEGMENTS) == 3
    assert cost_of(ChannelName.SMS, "é" * 60 + "ç" * 20) == 2  # UCS-2: 70 per segment
    assert cost_of(ChannelName.EMAIL, THREE_SEGMENTS) == 1


async def test_sends_keep_to_the_rate_in_segments(
    engine: AsyncEngine, sms_settings: SmsSettings, twilio_standin: TwilioStandin
) -> None:
    """At 2 segments/s: never more than 2 segments sent in any second of the clock, and
    nothing lost or sent twice; the turns a message could not have wait in the outbox."""
    clock = VirtualClock(NOW)
    rows = [
        replace(row(i, "sms"), text=THREE_SEGMENTS if i % 4 == 0 else "short") for i in range(12)
    ]
    async with engine.begin() as conn:
        await enqueue(conn, rows)
    async with SmsChannel(sms_settings) as channel:
        dispatcher = _dispatcher(engine, channel, clock, _pacer(clock, rate=2))
        for _ in range(400):
            if len(twilio_standin.messages) == len(rows):
                break
            await dispatcher.run_once()
            clock.advance(0.125)
    assert sorted(m.to for m in twilio_standin.messages) == sorted(r.recipient or "" for r in rows)
    async with engine.connect() as conn:
        sent = (await conn.execute(select(outbox.c.sent_at, outbox.c.body_text))).all()
    segments: Counter[int] = Counter()
    for sent_at, text in sent:
        second = int((sent_at.replace(tzinfo=UTC) - NOW).total_seconds())
        segments[second] += cost_of(ChannelName.SMS, text)
    total = sum(segments.values())
    assert total == 3 * 3 + 9
    # Two segments a second; a 3-segment message borrows its turns, so any window of a few
    # seconds holds at most its share plus one message's worth.
    span = max(segments) + 1
    for start in range(span):
        window = sum(segments[s] for s in range(start, start + 3))
        assert window <= 2 * 3 + 3, dict(segments)
    assert span >= total // 2  # it took the time the rate says, on the clock


async def test_an_outage_notice_overtakes_a_paced_backlog(
    engine: AsyncEngine, sms_settings: SmsSettings, twilio_standin: TwilioStandin
) -> None:
    """The production lanes, paced: a notice planned while order messages queue is among
    the next to leave, not after the backlog."""
    now = datetime.now(UTC)
    orders = [
        replace(row(i, "sms", due=now), subject_type="order", priority=50, text="order")
        for i in range(60)
    ]
    async with engine.begin() as conn:
        await enqueue(conn, orders)
    clock = SystemClock()
    async with SmsChannel(sms_settings) as channel:
        dispatcher = _dispatcher(engine, channel, clock, _pacer(clock, rate=10, burst=1))
        running = asyncio.create_task(dispatcher.run())
        try:
            await wait_for(lambda: len(twilio_standin.messages) >= 5, what="the first 5 order SMS")
            notice = replace(
                row(999, "sms", due=datetime.now(UTC)), key="notice", priority=90, text="down"
            )
            async with engine.begin() as conn:
                await enqueue(conn, [notice])
            dispatcher.wake()
            await wait_for(
                lambda: len(twilio_standin.messages) >= 61,
                what="the 60 order SMS and the notice",
                within=120,
            )
        finally:
            dispatcher.stop()
            await running
    arrivals = [m.body for m in twilio_standin.messages]
    assert len(arrivals) == 61 and arrivals.count("down") == 1
    # Only what the lane had claimed ahead (a second of capacity: 10) and the one message
    # waiting for its turn may go before it, not the other 40 or so of the backlog.
    assert arrivals.index("down") <= 5 + 10 + 1 + 3, arrivals.index("down")


async def test_a_full_paced_lane_claims_an_outage_notice_at_once(
    engine: AsyncEngine, sms_settings: SmsSettings, twilio_standin: TwilioStandin
) -> None:
    """A paced lane full of claimed order messages, its one sender stuck on a provider that
    has stopped answering: an outage notice planned now is claimed at once (not once half
    the queue has gone), and is the next to leave when the provider answers again."""
    now = datetime.now(UTC)
    orders = [
        replace(row(i, "sms", due=now), subject_type="order", priority=50, text="order")
        for i in range(40)
    ]
    async with engine.begin() as conn:
        await enqueue(conn, orders)
    clock = SystemClock()
    # One sender, and a timeout long enough that the held request is answered, not abandoned.
    settings = sms_settings.model_copy(update={"concurrency": 1, "timeout": 300.0})
    twilio_standin.hold()
    async with SmsChannel(settings) as channel:
        # 100 a second: the lane claims all 40 at once, and the pace is not what holds it.
        dispatcher = _dispatcher(engine, channel, clock, _pacer(clock, rate=100, burst=1))
        running = asyncio.create_task(dispatcher.run())
        try:
            try:
                await wait_for(
                    lambda: twilio_standin.requests == 1, what="the first order SMS at Twilio"
                )
                notice = replace(
                    row(999, "sms", due=datetime.now(UTC)), key="notice", priority=90, text="down"
                )
                async with engine.begin() as conn:
                    await enqueue(conn, [notice])
                dispatcher.wake()

                async def claimed() -> bool:
                    async with engine.connect() as conn:
                        status = await conn.scalar(
                            select(outbox.c.status).where(outbox.c.idempotency_key == "notice")
                        )
                    return status == "sending"

                await wait_for(claimed, what="the notice claimed while the lane is full")
                assert twilio_standin.requests == 1  # nothing else left meanwhile
            finally:
                twilio_standin.release()
            await wait_for(
                lambda: len(twilio_standin.messages) >= 41, what="the 40 order SMS and the notice"
            )
        finally:
            dispatcher.stop()
            await running
    arrivals = [m.body for m in twilio_standin.messages]
    assert len(arrivals) == 41
    assert arrivals.index("down") == 1  # right after the one that was stuck


async def test_a_paced_lane_drops_what_a_resolution_made_stale(
    engine: AsyncEngine, sms_settings: SmsSettings, twilio_standin: TwilioStandin
) -> None:
    """Claimed messages wait for their turn in the lane, out of reach of the resolution's
    supersede: the lane asks before handing each over, and drops the stale ones."""
    incident = await incidents.declare(
        engine, title="Radio down", severity="major", affects=["radio"], now=datetime.now(UTC)
    )
    rows = [
        replace(row(i, "sms", due=datetime.now(UTC)), subject_id=str(incident.id), text="down")
        for i in range(12)
    ]
    async with engine.begin() as conn:
        await enqueue(conn, rows)
    clock = SystemClock()
    async with SmsChannel(sms_settings) as channel:
        # 2 a second: the lane claims its second of capacity and holds it while it waits.
        dispatcher = _dispatcher(engine, channel, clock, _pacer(clock, rate=2, burst=1))
        running = asyncio.create_task(dispatcher.run())
        try:
            await wait_for(lambda: len(twilio_standin.messages) >= 2, what="2 SMS sent")
            await incidents.resolve(engine, incident.id, now=datetime.now(UTC), cause="Fixed")
            told = len(twilio_standin.messages)

            async def settled() -> bool:
                async with engine.connect() as conn:
                    waiting = await conn.execute(
                        select(outbox.c.id).where(outbox.c.status.in_(["pending", "sending"]))
                    )
                    return waiting.first() is None

            await wait_for(settled, what="every message sent or superseded")
        finally:
            dispatcher.stop()
            await running
    # At most the one that had passed the check when the resolution committed.
    assert len(twilio_standin.messages) - told <= 1
    async with engine.connect() as conn:
        reasons = (
            (await conn.execute(select(outbox.c.reason).where(outbox.c.status == "superseded")))
            .scalars()
            .all()
        )
    assert len(reasons) + len(twilio_standin.messages) == 12
    assert any("while it waited for its turn" in (r or "") for r in reasons), reasons


async def test_a_throttling_answer_slows_the_whole_channel_down(
    engine: AsyncEngine, sms_settings: SmsSettings, twilio_standin: TwilioStandin
) -> None:
    """Twilio answers 429: besides that message waiting for its Retry-After, the account's
    pace halves for a while, so the next turns come at half the configured rate."""
    clock = VirtualClock(NOW)
    pacer = _pacer(clock, rate=10)
    twilio_standin.limit(0.001, burst=1)  # one request, then 429 for a long while
    async with engine.begin() as conn:
        await enqueue(conn, [row(i, "sms") for i in range(2)])
    async with SmsChannel(sms_settings) as channel:
        dispatcher = _dispatcher(engine, channel, clock, pacer)
        await dispatcher.run_once()  # the first goes; the second waits for its turn
        clock.advance(0.2)
        await dispatcher.run_once()  # the second meets the 429
        await wait_for(
            lambda: twilio_standin.throttled >= 1, what="the stand-in to answer 429 once"
        )
    twilio_standin.limit(None)
    # Two turns in a row at the same instant: at 10/s the second waits 0.1 s; slowed, 0.2.
    clock.advance(5)
    first = await pacer.try_turn(ChannelName.SMS, "short")
    second = await pacer.try_turn(ChannelName.SMS, "short")
    assert first.granted
    assert second.wait == pytest.approx(0.2)
