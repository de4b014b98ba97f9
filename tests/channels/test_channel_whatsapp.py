"""WhatsAppChannel: the real twilio client against the local stand-in, over real sockets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from notifier.channels.sms import SmsChannel
from notifier.channels.whatsapp import WHATSAPP_MAX_CHARS, WhatsAppChannel
from notifier.config import Settings, SmsSettings, WhatsAppSettings, load_settings
from notifier.domain.messages import ChannelName, OutgoingMessage
from notifier.errors import (
    ConfigError,
    PermanentDeliveryError,
    RecipientOptedOut,
    TransientDeliveryError,
)
from notifier.sinks import TwilioStandin
from tests.peers import whatsapp_message


async def test_to_and_from_carry_the_whatsapp_prefix(
    twilio_standin: TwilioStandin, whatsapp_settings: WhatsAppSettings
) -> None:
    callback = "https://notify.example.com/webhooks/twilio/status"
    message = whatsapp_message(headers={"status_callback": callback})
    async with WhatsAppChannel(whatsapp_settings) as channel:
        result = await channel.send(message)
    [received] = twilio_standin.messages
    assert (received.to, received.from_) == ("whatsapp:+33612345678", "whatsapp:+14155238886")
    assert received.channel == "whatsapp"
    assert received.body == message.text  # emoji and accents as written: no segments here
    assert received.status_callback == callback
    assert result.provider_id == received.sid and result.detail == "queued"


async def test_the_sms_account_is_reused_unless_whatsapp_has_its_own(
    twilio_standin: TwilioStandin,
) -> None:
    sms = SmsSettings(
        account_sid=twilio_standin.account_sid,
        auth_token=SecretStr(twilio_standin.auth_token),
        api_base_url=twilio_standin.base_url,
    )
    settings = Settings(sms=sms, whatsapp=WhatsAppSettings(enabled=True))
    channel = WhatsAppChannel.from_settings(settings)
    assert channel is not None
    async with channel:
        await channel.send(whatsapp_message())
    assert [m.account_sid for m in twilio_standin.messages] == [twilio_standin.account_sid]

    # Its own token wins over the SMS one: a wrong one is refused by the stand-in.
    wrong = WhatsAppSettings(enabled=True, auth_token=SecretStr("not-the-token"))
    async with WhatsAppChannel(wrong, sms) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(whatsapp_message())
    assert caught.value.code == "20003"


def test_turned_off_unless_enabled() -> None:
    assert WhatsAppChannel.from_settings(Settings()) is None


@pytest.mark.parametrize("sender", ["+14155238886", "whatsapp:+14155238886"])
def test_the_sender_is_kept_bare_e164(sender: str) -> None:
    assert WhatsAppSettings(from_number=sender).from_number == "+14155238886"


@pytest.mark.parametrize("sender", ["14155238886", "whatsapp:", "+1 415 523", "sms:+1415"])
def test_a_sender_that_is_not_e164_is_refused_naming_the_key(sender: str) -> None:
    with pytest.raises(ConfigError, match=r"whatsapp\.from_number: .*E\.164"):
        load_settings(whatsapp={"from_number": sender})


async def test_a_body_of_4096_goes_and_one_more_is_refused_for_good(
    twilio_standin: TwilioStandin, whatsapp_settings: WhatsAppSettings
) -> None:
    async with WhatsAppChannel(whatsapp_settings) as channel:
        await channel.send(whatsapp_message(text="é" * WHATSAPP_MAX_CHARS))
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(whatsapp_message("w-2", text="é" * (WHATSAPP_MAX_CHARS + 1)))
    assert caught.value.code == "21617"
    assert [len(m.body) for m in twilio_standin.messages] == [WHATSAPP_MAX_CHARS]


async def test_an_opted_out_recipient_is_permanent_and_says_so(
    twilio_standin: TwilioStandin, whatsapp_settings: WhatsAppSettings
) -> None:
    twilio_standin.fail_number("whatsapp:+33612345678", code=21610)
    async with WhatsAppChannel(whatsapp_settings) as channel:
        with pytest.raises(RecipientOptedOut) as caught:
            await channel.send(whatsapp_message())
    assert caught.value.code == "21610"


async def test_429_and_5xx_are_transient(
    twilio_standin: TwilioStandin, whatsapp_settings: WhatsAppSettings
) -> None:
    twilio_standin.script([429, 503])
    async with WhatsAppChannel(whatsapp_settings) as channel:
        for _ in range(2):
            with pytest.raises(TransientDeliveryError):
                await channel.send(whatsapp_message())
        await channel.send(whatsapp_message())
    assert len(twilio_standin.messages) == 1


async def test_the_stand_in_refuses_mixed_channels(twilio_standin: TwilioStandin) -> None:
    """A WhatsApp To with an SMS From is what Twilio refuses (21910): the stand-in too, so a
    channel that forgot the prefix on one side fails its tests."""
    sms = SmsSettings(
        account_sid=twilio_standin.account_sid,
        auth_token=SecretStr(twilio_standin.auth_token),
        api_base_url=twilio_standin.base_url,
    )
    async with SmsChannel(sms) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(
                OutgoingMessage(
                    key="s-1", channel=ChannelName.SMS, to="whatsapp:+33612345678", text="x"
                )
            )
    assert caught.value.code == "21910"
