"""SmsChannel: the real twilio client against the local stand-in, over real sockets."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import SecretStr

from notifier.channels.sms import SmsChannel
from notifier.channels.twilio_messages import retry_after as _retry_after
from notifier.config import SmsSettings
from notifier.errors import PermanentDeliveryError, TransientDeliveryError
from notifier.sinks import TwilioStandin
from notifier.sinks.smtp_sink import free_port
from tests.peers import email_message, sms_message


async def test_created_message_returns_its_sid(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    callback = "https://notify.example.com/twilio/status"
    async with SmsChannel(sms_settings) as channel:
        result = await channel.send(sms_message(headers={"status_callback": callback}))
    assert result.provider_id is not None
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    assert result.detail == "queued"
    [received] = twilio_standin.messages
    assert received.sid == result.provider_id
    assert (received.to, received.from_) == ("+33612345678", "+15005550006")
    assert received.body == "Panne en cours, retour prévu à 14h."
    assert received.status_callback == callback


async def test_the_form_arrives_as_written(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    """The channel encodes the form itself (not aiohttp): characters that mean something in
    a form, and text beyond ASCII, arrive unchanged."""
    text = "Tom & Jerry: 1+1=2, 100% back; naïve café ✓ 📡 a=b&c"
    callback = "https://notify.example.com/twilio/status?a=1&b=x y"
    async with SmsChannel(sms_settings) as channel:
        await channel.send(sms_message(text=text, headers={"status_callback": callback}))
    [received] = twilio_standin.messages
    assert (received.body, received.status_callback) == (text, callback)


async def test_no_status_callback_unless_asked(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    async with SmsChannel(sms_settings) as channel:
        await channel.send(sms_message())
    assert twilio_standin.messages[0].status_callback is None


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), (None, None)])
async def test_429_is_transient_with_retry_after(
    twilio_standin: TwilioStandin,
    sms_settings: SmsSettings,
    header: str | None,
    expected: float | None,
) -> None:
    twilio_standin.retry_after = header
    twilio_standin.script([429])
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(sms_message())
        assert caught.value.code == "20429"
        assert caught.value.retry_after == expected
        await channel.send(sms_message())  # the next one goes through
    assert len(twilio_standin.messages) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_transient(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings, status: int
) -> None:
    twilio_standin.script([status])
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(sms_message())
    assert caught.value.retry_after is None
    assert f"HTTP {status}" in caught.value.reason


async def test_invalid_number_is_permanent_21211(sms_settings: SmsSettings) -> None:
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(sms_message(to="0612345678"))
    assert caught.value.code == "21211"
    assert "not a valid phone number" in caught.value.reason


@pytest.mark.parametrize(("code", "words"), [(21610, "opted out"), (21614, "not a mobile")])
async def test_refused_numbers_are_permanent(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings, code: int, words: str
) -> None:
    twilio_standin.fail_number("+33600000000", code=code)
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(sms_message(to="+33600000000"))
        await channel.send(sms_message(to="+33611111111"))
    assert caught.value.code == str(code)
    assert words in caught.value.reason
    assert [m.to for m in twilio_standin.messages] == ["+33611111111"]


async def test_over_long_body_is_permanent_21617(sms_settings: SmsSettings) -> None:
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(sms_message(text="x" * 1601))
    assert caught.value.code == "21617"


async def test_answer_slower_than_the_timeout_is_transient(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    # The stand-in holds its answer until it stops: only our timeout can end the send.
    twilio_standin.delay = 3600.0
    settings = sms_settings.model_copy(update={"timeout": 0.2})
    async with SmsChannel(settings) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(sms_message())
    assert caught.value.code == "timeout"
    assert "may or may not" in caught.value.reason
    # Our timeout fired, not the stand-in's answer: it got the request and never answered.
    assert (twilio_standin.requests, twilio_standin.messages) == (1, [])


async def test_wrong_auth_token_is_permanent_20003(
    twilio_standin: TwilioStandin, sms_settings: SmsSettings
) -> None:
    # Chosen: permanent. Retrying cannot help until someone fixes the settings, and the
    # reason says which settings to check.
    settings = sms_settings.model_copy(update={"auth_token": SecretStr("wrong-token")})
    async with SmsChannel(settings) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(sms_message())
    assert caught.value.code == "20003"
    assert "auth_token" in caught.value.reason
    assert twilio_standin.messages == []


async def test_nothing_listening_is_transient(sms_settings: SmsSettings) -> None:
    settings = sms_settings.model_copy(
        update={"api_base_url": f"http://127.0.0.1:{free_port()}", "timeout": 2.0}
    )
    async with SmsChannel(settings) as channel:
        with pytest.raises(TransientDeliveryError, match="cannot reach Twilio"):
            await channel.send(sms_message())


async def test_sends_are_concurrent_up_to_the_limit(sms_settings: SmsSettings) -> None:
    # A stand-in of its own, so that no earlier slow request counts as in flight.
    with TwilioStandin() as standin:
        standin.delay = 0.05
        settings = sms_settings.model_copy(
            update={"api_base_url": standin.base_url, "concurrency": 5}
        )
        async with SmsChannel(settings) as channel:
            messages = [sms_message(f"s-{i}", to=f"+3361234{i:04d}") for i in range(50)]
            results = await asyncio.gather(*(channel.send(m) for m in messages))
    assert len({r.provider_id for r in results}) == 50
    assert len(standin.messages) == 50
    assert 1 < standin.max_in_flight <= 5


async def test_stand_in_runs_in_the_callers_loop_too(sms_settings: SmsSettings) -> None:
    async with TwilioStandin(account_sid="AC" + "1" * 32, auth_token="in-loop") as standin:
        settings = sms_settings.model_copy(
            update={
                "api_base_url": standin.base_url,
                "account_sid": standin.account_sid,
                "auth_token": SecretStr("in-loop"),
            }
        )
        async with SmsChannel(settings) as channel:
            result = await channel.send(sms_message())
    assert standin.messages[0].sid == result.provider_id
    assert standin.messages[0].account_sid == "AC" + "1" * 32


async def test_sms_refuses_what_it_cannot_carry(sms_settings: SmsSettings) -> None:
    async with SmsChannel(sms_settings) as channel:
        with pytest.raises(PermanentDeliveryError, match="header 'List-Unsubscribe'") as caught:
            await channel.send(sms_message(headers={"List-Unsubscribe": "<https://x>"}))
        with pytest.raises(ValueError, match="email message was given to the sms channel"):
            await channel.send(email_message())
    assert caught.value.code == "unsupported"


async def test_close_is_idempotent_and_final(sms_settings: SmsSettings) -> None:
    channel = SmsChannel(sms_settings)
    await channel.close()  # never started: nothing to close
    channel = SmsChannel(sms_settings)
    await channel.send(sms_message())
    await channel.close()
    await channel.close()
    with pytest.raises(RuntimeError, match="closed"):
        await channel.send(sms_message())


def test_retry_after_header_forms() -> None:
    assert _retry_after("120") == 120.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    before = time.time()
    in_a_minute = format_datetime(
        datetime.fromtimestamp(before, UTC) + timedelta(seconds=60), usegmt=True
    )
    seconds = _retry_after(in_a_minute)
    waited = time.time() - before
    # The header has whole seconds, so it names a time in (before + 59, before + 60]; the
    # answer is that time less the moment of parsing, however long the machine took to get there.
    assert seconds is not None and 59 - waited < seconds <= 60
    assert _retry_after("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0
