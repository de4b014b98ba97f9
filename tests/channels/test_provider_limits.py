"""The stand-ins behave like providers with limits, and the channels read their answers as
"slow down" or "down", in the providers' own words.

Rates here are tiny (one token per 1,000 s) so that what is over the limit does not depend
on how fast the machine is: the burst passes, everything after it is refused.
"""

from __future__ import annotations

import pytest

from notifier.channels.email import EmailChannel
from notifier.channels.sms import SmsChannel
from notifier.config import EmailSettings, SmsSettings
from notifier.errors import ProviderThrottled, ProviderUnavailable, TransientDeliveryError
from notifier.sinks import SmtpSink, TwilioStandin
from tests.peers import email_message, sms_message

SLOW = 0.001  # a rate that refills nothing during a test


async def test_relay_over_its_rate_answers_454_and_the_channel_says_throttled(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    smtp_sink.limit(SLOW, burst=2)
    async with EmailChannel(email_settings) as channel:
        for i in range(2):
            await channel.send(email_message(f"m-{i}"))
        with pytest.raises(ProviderThrottled) as caught:
            await channel.send(email_message("m-2"))
    error = caught.value
    assert error.code == "454"
    assert "Throttling failure: Maximum sending rate exceeded" in error.reason
    assert "throttled" in error.reason
    assert "TLS" not in error.reason
    assert (smtp_sink.received, smtp_sink.throttled) == (2, 1)


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("421 4.7.0 Too many messages, closing connection", "421"),
        ("451 4.7.1 Please slow down", "451"),
        ("454 4.7.0 Throttling failure: Maximum sending rate exceeded", "454"),
    ],
)
async def test_every_slow_down_reply_is_throttled_with_the_relays_words(
    smtp_sink: SmtpSink, email_settings: EmailSettings, reply: str, code: str
) -> None:
    smtp_sink.limit(SLOW, burst=1, reply=reply)
    async with EmailChannel(email_settings) as channel:
        await channel.send(email_message("m-0"))
        with pytest.raises(ProviderThrottled) as caught:
            await channel.send(email_message("m-1"))
        smtp_sink.limit(None)
        await channel.send(email_message("m-1"))  # the same message goes once the pace allows
    assert caught.value.code == code
    assert reply[4:] in caught.value.reason
    assert smtp_sink.received == 2


async def test_relay_switched_off_refuses_then_comes_back_on_the_same_port(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    smtp_sink.switch_off()
    assert not smtp_sink.is_on
    async with EmailChannel(email_settings) as channel:
        with pytest.raises(ProviderUnavailable) as caught:
            await channel.send(email_message("m-0"))
        assert f"{smtp_sink.host}:{smtp_sink.port}" in caught.value.reason
        smtp_sink.switch_on()
        await channel.send(email_message("m-0"))
    assert smtp_sink.received == 1


async def test_twilio_over_its_rate_answers_429_with_retry_after(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    twilio_standin.limit(SLOW, burst=1)
    async with SmsChannel(sms_settings) as channel:
        await channel.send(sms_message())
        with pytest.raises(ProviderThrottled) as caught:
            await channel.send(sms_message())
    assert caught.value.code == "20429"
    # The stand-in says how long until a token comes back: whole seconds, at least one.
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    assert (len(twilio_standin.messages), twilio_standin.throttled) == (1, 1)


async def test_twilio_queue_full_is_21611_and_means_slow_down(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    twilio_standin.queue(SLOW, depth=2)
    async with SmsChannel(sms_settings) as channel:
        for _ in range(2):
            await channel.send(sms_message())
        with pytest.raises(ProviderThrottled) as caught:
            await channel.send(sms_message())
    assert caught.value.code == "21611"
    assert "queued messages" in caught.value.reason
    assert twilio_standin.queue_full == 1


async def test_twilio_switched_off_answers_503_then_sends_again(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    twilio_standin.switch_off()
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(ProviderUnavailable) as caught:
            await channel.send(sms_message())
        twilio_standin.switch_on()
        await channel.send(sms_message())
    assert caught.value.code == "20503"
    assert len(twilio_standin.messages) == 1


async def test_twilio_unreachable_is_unavailable(sms_settings: SmsSettings) -> None:
    from notifier.sinks.smtp_sink import free_port

    settings = sms_settings.model_copy(update={"api_base_url": f"http://127.0.0.1:{free_port()}"})
    async with SmsChannel(settings) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(sms_message())
    assert isinstance(caught.value, ProviderUnavailable)
