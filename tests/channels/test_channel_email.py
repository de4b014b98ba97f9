"""EmailChannel against a real SMTP server (the sink) over real sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

import notifier.channels.email as email_module
from notifier.channels.email import EmailChannel, message_id_for
from notifier.clock import VirtualClock
from notifier.config import EmailSettings
from notifier.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from notifier.sinks import SmtpSink
from notifier.sinks.smtp_sink import free_port
from tests.peers import email_message, sms_message


async def test_many_messages_over_a_pool_of_two(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    messages = [
        email_message(
            f"m-{i}",
            to=f"customer{i}@example.org",
            subject=f"Panne n°{i} ⚡",
            text=f"Bonjour client {i}\n",
            html=f"<p>Bonjour client {i}</p>",
        )
        for i in range(40)
    ]
    async with EmailChannel(email_settings) as channel:
        results = await asyncio.gather(*(channel.send(m) for m in messages))

    assert len(smtp_sink.messages) == 40
    by_recipient = {received.rcpt_tos: received for received in smtp_sink.messages}
    assert len(by_recipient) == 40  # each exactly once
    for i, result in enumerate(results):
        received = by_recipient[(f"customer{i}@example.org",)]
        assert received.mail_from == "alerts@example.com"
        parsed = received.message
        assert parsed["Subject"] == f"Panne n°{i} ⚡"
        assert parsed["To"] == f"customer{i}@example.org"
        assert parsed["Message-ID"] == result.provider_id
        assert parsed["From"].addresses[0].display_name == "Réseau Électrique ⚡"
        plain = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        assert plain is not None and html is not None
        assert plain.get_content().strip() == f"Bonjour client {i}"
        assert html.get_content().strip() == f"<p>Bonjour client {i}</p>"
    # Concurrent sends filled the pool: exactly 2 connections, both used, none more.
    assert smtp_sink.connections == 2
    assert {received.connection for received in smtp_sink.messages} == {1, 2}


async def test_sequential_sends_reuse_one_connection(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    async with EmailChannel(email_settings) as channel:
        for i in range(5):
            await channel.send(email_message(f"m-{i}"))
    assert smtp_sink.received == 5
    assert smtp_sink.connections == 1


async def test_message_id_is_derived_from_the_key_and_date_from_the_clock(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    clock = VirtualClock(datetime(2026, 3, 1, 22, 15, tzinfo=UTC))
    async with EmailChannel(email_settings, clock=clock) as channel:
        result = await channel.send(email_message("outbox-42"))
    expected = message_id_for("outbox-42", "test.notifier.local")
    assert result.provider_id == expected
    assert result.detail and "OK" in result.detail
    parsed = smtp_sink.messages[0].message
    assert parsed["Message-ID"] == expected
    assert parsed["Date"].datetime == clock.now()


async def test_451_is_transient_and_a_resend_succeeds_with_the_same_message_id(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    smtp_sink.script(["451 4.3.0 try again later"])
    message = email_message("retry-me")
    async with EmailChannel(email_settings) as channel:
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(message)
        assert caught.value.code == "451"
        assert "451 4.3.0 try again later" in caught.value.reason
        result = await channel.send(message)
    assert smtp_sink.received == 1
    assert smtp_sink.messages[0].message["Message-ID"] == result.provider_id
    assert result.provider_id == message_id_for("retry-me", "test.notifier.local")
    assert smtp_sink.connections == 1  # a 4xx reply does not cost the connection


async def test_550_is_permanent_with_the_server_text(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    smtp_sink.script(["550 5.1.1 no such user"])
    async with EmailChannel(email_settings) as channel:
        with pytest.raises(PermanentDeliveryError) as caught:
            await channel.send(email_message())
        assert caught.value.code == "550"
        assert "5.1.1 no such user" in caught.value.reason
        await channel.send(email_message("next"))  # the connection is still good
    assert smtp_sink.received == 1
    assert smtp_sink.connections == 1


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("550 5.1.1 no such user", PermanentDeliveryError, "550"),
        ("450 4.2.0 greylisted, come back later", TransientDeliveryError, "450"),
    ],
)
async def test_refused_recipient_is_classified_by_its_code(
    smtp_sink: SmtpSink,
    email_settings: EmailSettings,
    reply: str,
    error: type[Exception],
    code: str,
) -> None:
    smtp_sink.reject_recipient("gone@example.org", reply)
    async with EmailChannel(email_settings) as channel:
        with pytest.raises(error) as caught:
            await channel.send(email_message(to="gone@example.org"))
        assert getattr(caught.value, "code", None) == code
        await channel.send(email_message(to="here@example.org"))
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("here@example.org",)]


async def test_dropped_connection_is_transient_and_the_next_send_reconnects(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    smtp_sink.drop_connection_after(2)
    async with EmailChannel(email_settings) as channel:
        await channel.send(email_message("a"))
        await channel.send(email_message("b"))
        with pytest.raises(TransientDeliveryError) as caught:
            await channel.send(email_message("c"))
        assert caught.value.code == "connection"
        await channel.send(email_message("c"))
        await channel.send(email_message("d"))
    assert smtp_sink.received == 4
    assert smtp_sink.connections == 2
    assert [m.connection for m in smtp_sink.messages] == [1, 1, 2, 2]


async def test_idle_connection_that_died_is_replaced_without_an_error(
    email_settings: EmailSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every pooled connection counts as idle, so it is checked with NOOP before use.
    monkeypatch.setattr(email_module, "_IDLE_CHECK_AFTER", 0.0)
    first = SmtpSink(port=free_port())
    settings = email_settings.model_copy(update={"port": first.port})
    with first:
        channel = EmailChannel(settings)
        await channel.send(email_message("a"))
    with SmtpSink(port=first.port) as second:  # the server restarted meanwhile
        await channel.send(email_message("b"))
        await channel.close()
    assert second.received == 1
    assert channel.connections_opened == 2


async def test_nothing_listening_is_transient(email_settings: EmailSettings) -> None:
    settings = email_settings.model_copy(update={"port": free_port(), "timeout": 2.0})
    async with EmailChannel(settings) as channel:
        with pytest.raises(TransientDeliveryError, match="connection"):
            await channel.send(email_message())


async def test_start_tls_insisted_on_but_not_offered_is_permanent(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    settings = email_settings.model_copy(update={"start_tls": True})
    async with EmailChannel(settings) as channel:
        with pytest.raises(PermanentDeliveryError, match="STARTTLS") as caught:
            await channel.send(email_message())
    assert caught.value.code == "unsupported"
    assert smtp_sink.received == 0


async def test_extra_headers_are_sent(smtp_sink: SmtpSink, email_settings: EmailSettings) -> None:
    headers = {
        "List-Unsubscribe": "<https://notify.example.com/u/T0KEN>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    async with EmailChannel(email_settings) as channel:
        await channel.send(email_message(headers=headers))
    parsed = smtp_sink.messages[0].message
    assert parsed["List-Unsubscribe"] == headers["List-Unsubscribe"]
    assert parsed["List-Unsubscribe-Post"] == headers["List-Unsubscribe-Post"]


async def test_unbuildable_message_is_permanent_before_any_connection(
    smtp_sink: SmtpSink, email_settings: EmailSettings
) -> None:
    async with EmailChannel(email_settings) as channel:
        with pytest.raises(PermanentDeliveryError, match="address") as caught:
            await channel.send(email_message(to="not an address"))
        with pytest.raises(PermanentDeliveryError, match="header name"):
            await channel.send(email_message(headers={"Bcc": "spy@example.org"}))
    assert caught.value.code == "unsupported"
    assert smtp_sink.connections == 0


async def test_lifecycle(smtp_sink: SmtpSink, email_settings: EmailSettings) -> None:
    channel = EmailChannel(email_settings)
    await channel.send(email_message())  # starts itself
    await channel.close()
    await channel.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await channel.send(email_message("after-close"))
    with pytest.raises(ValueError, match="sms message was given to the email channel"):
        await EmailChannel(email_settings).send(sms_message())


def test_bad_settings_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="exclude each other"):
        EmailChannel(EmailSettings(use_tls=True, start_tls=True))
    with pytest.raises(ConfigError, match="email address"):
        EmailChannel(EmailSettings(from_address="no-at-sign"))
    with pytest.raises(ConfigError, match="Message-ID"):
        EmailChannel(EmailSettings(message_id_domain="bad domain"))
