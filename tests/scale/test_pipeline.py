"""The production loop: `Worker.run` wakes for new work without waiting for its poll, and
the dispatcher's lanes send each message once, record every outcome and give back what
they had not started when told to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.channels.base import Channel, RecordingChannel
from notifier.channels.email import EmailChannel
from notifier.clock import SystemClock
from notifier.config import EmailSettings
from notifier.domain.messages import ChannelName, OutgoingMessage
from notifier.outbox import claims as store
from notifier.outbox.dispatcher import Dispatcher
from notifier.outbox.enqueue import enqueue
from notifier.outbox.retry import RetryPolicy
from notifier.runtime.app import App
from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.store.tables import outbox
from tests.harness import CUSTOMERS_CSV, harness
from tests.scale.test_claims import row
from tests.waiting import wait_for


async def test_a_running_worker_wakes_for_a_declaration_before_its_poll(
    db_url: str, tmp_path: Path
) -> None:
    # The longest poll interval there is; the wait below ends before it, so only the
    # wake-up can explain a send (its deadline is generous, it is not a speed bound).
    async with harness(db_url, scheduler={"poll_interval": 60}) as h:
        await h.load_customers(tmp_path)
        app = await App.open(h.app.settings.model_copy(), clock=SystemClock())
        channels = {name: RecordingChannel.for_channel(name) for name in ChannelName}
        worker = Worker(app, channels)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        try:
            await wait_for(worker.idle.is_set, what="the worker idle, listening for news")
            now = datetime.now(UTC)
            await incidents.declare(
                h.app.engine,
                title="Satellite radio signal outage",
                severity="major",
                affects=["satellite-radio"],
                eta=now + timedelta(hours=3),
                now=now,
            )
            await wait_for(
                lambda: len(channels[ChannelName.SMS].messages) >= 3,
                what="3 SMS sent on the wake-up, before any poll",
                within=45,
            )
        finally:
            stop.set()
            await running
            await app.close()
        emailed = sorted(m.to for m in channels[ChannelName.EMAIL].messages)
        assert emailed == sorted(
            line.split(",")[2]
            for line in CUSTOMERS_CSV.splitlines()[1:]
            if "satellite-radio" in line
        )
        assert worker.sent == len(emailed) + 3


async def test_lanes_send_each_message_once_and_record_it(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    rows = [row(i, ("email", "sms")[i % 2], due=now) for i in range(600)]
    async with engine.begin() as conn:
        await enqueue(conn, rows)
    email, sms = RecordingChannel(), RecordingChannel.for_channel(ChannelName.SMS)
    email.fail_next(1, permanent=True)
    dispatcher = _dispatcher(
        engine, {ChannelName.EMAIL: email, ChannelName.SMS: sms}, batch_size=50
    )
    running = asyncio.create_task(dispatcher.run())
    await wait_for(
        lambda: _at_least(sent_count(engine), 599), what="599 rows sent", interval=0.05
    )
    dispatcher.stop()
    await running
    keys = [m.key for m in email.messages + sms.messages]
    assert len(keys) == len(set(keys)) == 599
    async with engine.connect() as conn:
        statuses = await count_statuses(conn)
    assert statuses == {"sent": 599, "failed": 1}


def _dispatcher(
    engine: AsyncEngine, channels: dict[ChannelName, Channel], **options: Any
) -> Dispatcher:
    """A dispatcher on the real clock, with a lease no test here outlives."""
    return Dispatcher(
        engine,
        channels,
        clock=SystemClock(),
        worker_id="w",
        retry=RetryPolicy(),
        lease=timedelta(seconds=60),
        **options,
    )


async def _at_least(count: Awaitable[int], n: int) -> bool:
    return await count >= n


async def count_statuses(conn: AsyncConnection) -> dict[str, int]:
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    return {status: int(n) for status, n in (await conn.execute(query)).all()}


async def sent_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await count_statuses(conn)).get("sent", 0)


async def test_a_stopping_dispatcher_gives_back_what_it_had_not_started(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await enqueue(conn, [row(i, "sms", due=now) for i in range(200)])

    class Slow(RecordingChannel):
        name = ChannelName.SMS
        concurrency = 2

        async def transport(self, payload: OutgoingMessage) -> object:
            await asyncio.sleep(0.05)
            return await super().transport(payload)

    slow = Slow()
    dispatcher = _dispatcher(engine, {ChannelName.SMS: slow})
    running = asyncio.create_task(dispatcher.run())
    await wait_for(lambda: len(slow.messages) >= 4, what="4 SMS sent by the slow channel")
    dispatcher.stop()
    await running
    async with engine.connect() as conn:
        statuses = await count_statuses(conn)
        waiting = select(func.max(outbox.c.attempts)).where(outbox.c.status == "pending")
        attempts = (await conn.execute(waiting)).scalar_one()
    assert statuses == {"sent": len(slow.messages), "pending": 200 - len(slow.messages)}
    assert attempts == 0  # given back, not counted as tried


async def test_a_lane_claims_when_there_is_news_not_after_every_message(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages planned one at a time (an order event each): each is claimed once, on the
    news of it. A claim that came back short means nothing else is due, so the lane does
    not claim again (a write transaction finding nothing) each time a sender takes one."""
    claims: list[int] = []
    real_claim = store.claim_due

    async def counting(*args: Any, **kwargs: Any) -> list[store.ClaimedMessage]:
        claimed = await real_claim(*args, **kwargs)
        claims.append(len(claimed))
        return claimed

    monkeypatch.setattr(store, "claim_due", counting)
    sms = RecordingChannel.for_channel(ChannelName.SMS)
    # No look on a timer during the test: only news.
    dispatcher = _dispatcher(engine, {ChannelName.SMS: sms}, poll=60.0)
    running = asyncio.create_task(dispatcher.run())
    try:
        await wait_for(lambda: claims, what="the lane's first look")
        for i in range(5):
            async with engine.begin() as conn:
                await enqueue(conn, [row(i, "sms", due=datetime.now(UTC))])
            dispatcher.wake_channels({"sms"})
            # Sent, and its outcome recorded, before the next one is planned.
            await wait_for(
                lambda n=i + 1: _at_least(sent_count(engine), n),  # type: ignore[misc]
                what=f"message {i + 1} sent and recorded",
            )
    finally:
        dispatcher.stop()
        await running
    assert len(sms.messages) == 5
    assert [n for n in claims if n] == [1, 1, 1, 1, 1]
    # Empty claims: only each lane's first look, at the start (before: 7 in this test).
    assert claims.count(0) <= len(ChannelName)
    assert await sent_count(engine) == 5


async def test_the_email_a_channel_sends_parses_back_with_the_stdlib() -> None:
    settings = EmailSettings(from_address="status@example.com", from_name="Réseau Électrique")
    channel = EmailChannel(settings)
    payload = channel.build_payload(
        OutgoingMessage(
            key="e1:incident-declared-email:c-fr:email",
            channel=ChannelName.EMAIL,
            to="zoe@example.fr",
            subject="Panne du signal satellite : nous y travaillons",
            text="Bonjour Zoé,\n\nLa panne est identifiée. Retour prévu à 14 h.\n",
            html="<p>Bonjour Zoé,</p><p>La panne est identifiée.</p>",
            headers={"List-Unsubscribe": "<https://example.com/u/abc>"},
        )
    )
    parsed = BytesParser(policy=policy.default).parsebytes(payload.data)
    assert isinstance(parsed, EmailMessage)
    assert not parsed.defects
    assert parsed["Subject"] == "Panne du signal satellite : nous y travaillons"
    assert parsed["Message-ID"] == payload.message_id
    assert parsed["List-Unsubscribe"] == "<https://example.com/u/abc>"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Retour prévu à 14 h." in text.get_content()
    assert "identifiée" in html.get_content()
