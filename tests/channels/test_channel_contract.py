"""One contract, run for every channel in the registry.

Each test is parametrized over `ChannelName`: a new channel is tested here by adding it to
the registry and giving it a peer in `PEERS` (the real local server its provider stands
for). A channel without a peer fails `test_every_channel_has_a_peer_here`, so it cannot
slip through untested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from notifier.api.preferences import CHANNEL_LABELS, PreferencesForm
from notifier.channels import registry
from notifier.channels.base import UNSUPPORTED, Channel
from notifier.channels.registry import UnknownChannel, channel_class, inbound_channel
from notifier.config import EmailSettings, Settings, SmsSettings, WhatsAppSettings
from notifier.domain.customers import CATEGORIES, NO_ADDRESS, Customer
from notifier.domain.messages import ChannelName, OutgoingMessage
from notifier.engine import RuleSet, RuleSetError
from notifier.errors import PermanentDeliveryError
from notifier.sinks import SmtpSink, TwilioStandin
from notifier.templating.compiled import compile_template
from notifier.templating.context import sample_context
from notifier.templating.layout import TemplateKey, parse_key
from tests.engine.helpers import rule_toml

CHANNELS = list(ChannelName)
CUSTOMER = Customer(
    id="c-1",
    name="Zoé Martin",
    email="zoe@example.fr",
    phone="+33612345678",
    locale="fr",
    timezone="Europe/Paris",
)


@dataclass(frozen=True)
class Received:
    to: str
    from_: str
    text: str


@dataclass(frozen=True)
class Peer:
    """How one channel reaches its local peer, and what that peer recorded."""

    received: Callable[[SmtpSink, TwilioStandin], list[Received]]
    # The address the peer must see for the customer's address (the channel's wire form).
    wire: Callable[[str], str]
    sender: str


def _emails(sink: SmtpSink, twilio: TwilioStandin) -> list[Received]:
    out = []
    for mail in sink.messages:
        body = mail.message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        out += [Received(rcpt, mail.mail_from, text) for rcpt in mail.rcpt_tos]
    return out


def _twilio(channel: str) -> Callable[[SmtpSink, TwilioStandin], list[Received]]:
    def received(sink: SmtpSink, twilio: TwilioStandin) -> list[Received]:
        return [Received(m.to, m.from_, m.body) for m in twilio.messages if m.channel == channel]

    return received


PEERS: dict[ChannelName, Peer] = {
    ChannelName.EMAIL: Peer(_emails, lambda address: address, "status@example.com"),
    ChannelName.SMS: Peer(_twilio("sms"), lambda phone: phone, "+12025550100"),
    ChannelName.WHATSAPP: Peer(
        _twilio("whatsapp"), lambda phone: f"whatsapp:{phone}", "whatsapp:+14155238886"
    ),
}


def settings_for(sink: SmtpSink, twilio: TwilioStandin) -> Settings:
    """Every channel turned on, each pointing at its peer."""
    return Settings(
        email=EmailSettings(
            host=sink.host, port=sink.port, from_address="status@example.com", pool_size=2
        ),
        sms=SmsSettings(
            account_sid=twilio.account_sid,
            auth_token=twilio.auth_token,
            from_number="+12025550100",
            api_base_url=twilio.base_url,
            timeout=5.0,
        ),
        whatsapp=WhatsAppSettings(enabled=True, from_number="+14155238886", timeout=5.0),
    )


def message_for(cls: type[Channel], key: str = "k-1") -> OutgoingMessage:
    address = CUSTOMER.address(cls.address_field)
    assert address is not None
    return OutgoingMessage(
        key=key,
        channel=cls.name,
        to=address,
        text="Panne en cours, retour prévu à 14h.",
        subject="Panne en cours" if cls.has_subject else None,
        html="<p>Panne en cours</p>" if cls.has_html else None,
    )


# -- the registry ---------------------------------------------------------------------------


def test_every_channel_name_has_a_class_and_every_class_a_name() -> None:
    assert set(registry.CHANNEL_CLASSES) == {name.value for name in ChannelName}
    for name in ChannelName:
        assert channel_class(name).name is name
        assert channel_class(name.value) is channel_class(name)


def test_every_channel_has_a_peer_here() -> None:
    missing = sorted(set(ChannelName) - set(PEERS))
    assert not missing, f"add a peer to PEERS for {missing} so the contract runs for it"


def test_a_name_without_a_class_is_refused_loudly() -> None:
    with pytest.raises(UnknownChannel, match=r"no channel class for 'fax' \(channels: email, "):
        channel_class("fax")


def test_a_channel_whose_class_is_missing_is_never_treated_as_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Templating, rules and planning all refuse it, rather than falling back to SMS."""
    monkeypatch.delitem(registry.CHANNEL_CLASSES, "whatsapp")
    monkeypatch.setattr(registry, "_loaded", {})
    with pytest.raises(UnknownChannel, match="'whatsapp'"):
        channel_class(ChannelName.WHATSAPP)
    with pytest.raises(UnknownChannel, match="'whatsapp'"):
        compile_template(TemplateKey("incident_declared", ChannelName.WHATSAPP, "en"), "x")
    with pytest.raises(RuleSetError, match="no channel class for 'whatsapp'"):
        RuleSet.from_texts({"r.toml": rule_toml(channels=["whatsapp"])})
    with pytest.raises(UnknownChannel, match="'whatsapp'"):
        inbound_channel("whatsapp:+12015550123")  # not read as an SMS from "whatsapp:..."


# -- what each class declares ------------------------------------------------------------------


@pytest.mark.parametrize("name", CHANNELS)
def test_capabilities_are_declared(name: ChannelName) -> None:
    cls = channel_class(name)
    assert cls.label
    assert cls.address_field in NO_ADDRESS
    assert cls.max_chars is None or cls.max_chars > 0
    assert not (cls.segmented and cls.has_subject), "an SMS-like channel has no subject"
    assert cls.has_html <= cls.has_subject, "templating knows no HTML-without-subject kind"
    assert all(isinstance(code, str) for code in cls.permanent_codes)
    assert cls.status_callback_path is None or cls.status_callback_path.startswith("/")


@pytest.mark.parametrize("name", CHANNELS)
def test_a_customer_without_the_address_cannot_receive_it(name: ChannelName) -> None:
    cls = channel_class(name)
    empty = Customer(
        id="c-2", name="No Contact", email=None, phone=None, locale="en", timezone="UTC"
    )
    assert empty.can_receive(name, cls.address_field) == (False, NO_ADDRESS[cls.address_field])
    assert CUSTOMER.can_receive(name, cls.address_field) == (True, None)
    opted_out = replace(CUSTOMER, opt_outs=frozenset({name.value}))
    assert opted_out.can_receive(name, cls.address_field) == (False, f"opted out of {name}")


@pytest.mark.parametrize("name", CHANNELS)
def test_its_templates_render_as_its_own(name: ChannelName) -> None:
    cls = channel_class(name)
    key = parse_key(f"incident_declared/{name.value}.en.j2")
    source = (
        "{% block subject %}S {{ incident.title }}{% endblock %}"
        "{% block text %}T {{ incident.title }}{% endblock %}"
        "{% block html %}<p>{{ incident.title }}</p>{% endblock %}"
        if cls.has_subject
        else "T {{ incident.title }}"
    )
    rendered = compile_template(key, source).render(sample_context("en"))
    assert rendered.channel is name
    assert rendered.text.startswith("T ")
    assert (rendered.subject is not None) == cls.has_subject
    assert (rendered.html is not None) == cls.has_html


@pytest.mark.parametrize("name", CHANNELS)
def test_customers_can_choose_it_on_the_preference_page(name: ChannelName) -> None:
    assert name.value in CHANNEL_LABELS
    for category in CATEGORIES:
        assert f"{category}_{name.value}" in PreferencesForm.model_fields


# -- sending, through the real client to the real peer --------------------------------------


@pytest.mark.parametrize("name", CHANNELS)
async def test_it_sends_to_its_peer_at_the_customers_address(
    name: ChannelName, smtp_sink: SmtpSink, twilio_standin: TwilioStandin
) -> None:
    cls = channel_class(name)
    peer = PEERS[name]
    channel = cls.from_settings(settings_for(smtp_sink, twilio_standin))
    assert channel is not None and channel.concurrency >= 1
    message = message_for(cls)
    async with channel:
        result = await channel.send(message)
    assert result.provider_id
    if cls is channel_class(ChannelName.EMAIL):
        assert smtp_sink.wait_for(1), "the SMTP sink never received the email"
    [received] = peer.received(smtp_sink, twilio_standin)
    assert received.to == peer.wire(message.to)
    assert received.from_ == peer.sender
    assert "Panne en cours" in received.text
    # Nothing reached another channel's peer.
    others = [PEERS[n].received(smtp_sink, twilio_standin) for n in CHANNELS if n != name]
    assert others == [[] for _ in others]


@pytest.mark.parametrize("name", [n for n in CHANNELS if not channel_class(n).has_subject], ids=str)
async def test_a_text_channel_refuses_a_subject_or_html(
    name: ChannelName, smtp_sink: SmtpSink, twilio_standin: TwilioStandin
) -> None:
    cls = channel_class(name)
    channel = cls.from_settings(settings_for(smtp_sink, twilio_standin))
    assert channel is not None
    base = message_for(cls)
    async with channel:
        for extra in ({"subject": "S"}, {"html": "<p>x</p>"}):
            message = replace(base, **extra)
            with pytest.raises(PermanentDeliveryError) as caught:
                await channel.send(message)
            assert caught.value.code == UNSUPPORTED
    assert twilio_standin.messages == []


@pytest.mark.parametrize(
    "name", [n for n in CHANNELS if channel_class(n).inbound_prefix is not None]
)
def test_replies_are_told_apart_by_their_sender_address(name: ChannelName) -> None:
    cls = channel_class(name)
    sender = f"{cls.inbound_prefix}+12015550123"
    found = inbound_channel(sender)
    assert found is not None
    assert (found[0], found[1]) == (cls, "+12015550123")


def test_an_inbound_address_of_no_channel_is_nobodys() -> None:
    assert inbound_channel("fax:+12015550123") is None
    assert inbound_channel("not a number") is None
