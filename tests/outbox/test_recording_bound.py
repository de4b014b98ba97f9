"""What a crash can send twice: a message the peer accepted and whose `sent` is not yet
committed. The dispatcher's lanes keep that to the channel's concurrency (in flight) plus
as many again, or 16 if more, being recorded, whatever the pace: it used to hold outcomes
until half a claim (32 emails, 64 SMS here) or 0.2 s had gathered.

The real email and SMS channels send to the local SMTP sink and Twilio stand-in; while they
do, the test samples each peer's count, then the outbox's `sent` count. Read in that order,
the difference never exceeds the true number accepted and unrecorded at any one instant.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.channels.email import EmailChannel
from notifier.channels.sms import SmsChannel
from notifier.clock import SystemClock
from notifier.config import EmailSettings, SmsSettings
from notifier.domain.messages import ChannelName
from notifier.outbox.dispatcher import UNRECORDED_AT_LEAST, Dispatcher
from notifier.outbox.retry import RetryPolicy
from notifier.sinks.smtp_sink import SmtpSink
from notifier.sinks.twilio_standin import TwilioStandin
from notifier.store.tables import outbox
from tests.scale.test_claims import enqueue, row

MESSAGES = 1_200  # per channel


async def _sent(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        query = (
            select(outbox.c.channel, func.count())
            .where(outbox.c.status == "sent")
            .group_by(outbox.c.channel)
        )
        return {str(channel): int(n) for channel, n in (await conn.execute(query)).all()}


async def test_accepted_and_unrecorded_stays_within_the_bound(
    engine: AsyncEngine,
    smtp_sink: SmtpSink,
    email_settings: EmailSettings,
    twilio_standin: TwilioStandin,
    sms_settings: SmsSettings,
) -> None:
    now = datetime.now(UTC)
    await enqueue(
        engine, [row(i, channel, due=now) for i in range(MESSAGES) for channel in ("email", "sms")]
    )
    # The default widths: 8 SMTP connections, 16 Twilio requests at once.
    email = EmailChannel(email_settings.model_copy(update={"pool_size": 8}))
    sms = SmsChannel(sms_settings.model_copy(update={"concurrency": 16}))
    bound = {
        name: width + max(width, UNRECORDED_AT_LEAST)
        for name, width in (("email", email.concurrency), ("sms", sms.concurrency))
    }
    dispatcher = Dispatcher(
        engine,
        {ChannelName.EMAIL: email, ChannelName.SMS: sms},
        clock=SystemClock(),
        worker_id="w",
        retry=RetryPolicy(),
        lease=timedelta(seconds=600),  # no claim runs out in this test
        batch_size=500,
    )
    running = asyncio.create_task(dispatcher.run())
    most = {"email": 0, "sms": 0}
    try:
        async with asyncio.timeout(120):  # a generous deadline for 2,400 messages
            while True:
                accepted = {"email": smtp_sink.received, "sms": len(twilio_standin.messages)}
                sent = await _sent(engine)
                for channel in most:
                    most[channel] = max(most[channel], accepted[channel] - sent.get(channel, 0))
                if sent.get("email", 0) + sent.get("sms", 0) >= 2 * MESSAGES:
                    break
                await asyncio.sleep(0.005)
    finally:
        dispatcher.stop()
        await running
        await email.close()
        await sms.close()
    assert smtp_sink.received == len(twilio_standin.messages) == MESSAGES
    assert all(most[c] <= bound[c] for c in most), f"accepted, not recorded: {most} > {bound}"
