"""Local peers for tests: a recording SMTP sink and a Twilio stand-in, with settings
pointing at them, plus message builders.

The peers run in threads of their own (aiosmtpd's Controller; the stand-in's threaded
runner), so these are plain sync fixtures that work under any pytest-asyncio loop scope.

Register them in tests/conftest.py:

    from tests.peers import email_settings, sms_settings, smtp_sink, twilio_standin  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from notifier.config import EmailSettings, SmsSettings, WhatsAppSettings
from notifier.domain.messages import ChannelName, OutgoingMessage
from notifier.sinks import SmtpSink, TwilioStandin

__all__ = [
    "email_message",
    "email_settings",
    "sms_message",
    "sms_settings",
    "smtp_sink",
    "twilio_standin",
    "whatsapp_message",
    "whatsapp_settings",
]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A started SMTP sink on 127.0.0.1 and a free port; recorded in `.messages`."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def email_settings(smtp_sink: SmtpSink) -> EmailSettings:
    """Email settings sending to `smtp_sink`, with a pool of 2 connections."""
    return EmailSettings(
        host=smtp_sink.host,
        port=smtp_sink.port,
        pool_size=2,
        timeout=5.0,
        from_address="alerts@example.com",
        from_name="Réseau Électrique ⚡",
        message_id_domain="test.notifier.local",
    )


@pytest.fixture
def twilio_standin() -> Iterator[TwilioStandin]:
    """A started Twilio Messages API stand-in; recorded in `.messages`."""
    with TwilioStandin() as standin:
        yield standin


@pytest.fixture
def sms_settings(twilio_standin: TwilioStandin) -> SmsSettings:
    """SMS settings pointing at `twilio_standin`, with the stand-in's credentials."""
    return SmsSettings(
        account_sid=twilio_standin.account_sid,
        auth_token=SecretStr(twilio_standin.auth_token),
        from_number="+15005550006",
        api_base_url=twilio_standin.base_url,
        concurrency=8,
        timeout=5.0,
    )


@pytest.fixture
def whatsapp_settings(twilio_standin: TwilioStandin) -> WhatsAppSettings:
    """WhatsApp settings with an account of their own on `twilio_standin` (its credentials)."""
    return WhatsAppSettings(
        enabled=True,
        account_sid=twilio_standin.account_sid,
        auth_token=SecretStr(twilio_standin.auth_token),
        from_number="+14155238886",
        api_base_url=twilio_standin.base_url,
        concurrency=4,
        timeout=5.0,
    )


def email_message(
    key: str = "m-1",
    *,
    to: str = "customer@example.org",
    subject: str | None = "Panne en cours",
    text: str = "Bonjour,\nune panne est en cours.\n",
    html: str | None = "<p>Bonjour, une panne est en cours.</p>",
    headers: dict[str, str] | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        channel=ChannelName.EMAIL,
        to=to,
        text=text,
        subject=subject,
        html=html,
        headers=headers or {},
    )


def sms_message(
    key: str = "s-1",
    *,
    to: str = "+33612345678",
    text: str = "Panne en cours, retour prévu à 14h.",
    headers: dict[str, str] | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        key=key, channel=ChannelName.SMS, to=to, text=text, headers=headers or {}
    )


def whatsapp_message(
    key: str = "w-1",
    *,
    to: str = "+33612345678",
    text: str = "*Réseau* : panne en cours, retour prévu à 14h. 📡",
    headers: dict[str, str] | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        key=key, channel=ChannelName.WHATSAPP, to=to, text=text, headers=headers or {}
    )
