"""The shipped XM templates say the right thing in each situation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.domain.messages import ChannelName
from notifier.templating import TemplateCatalog, sample_context, sms_segments

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
MESSAGES = ("incident_declared", "incident_updated", "incident_resolved")


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.from_directory(SHIPPED)


def updated(locale: str, **payload: Any) -> dict[str, Any]:
    ctx = sample_context(locale, message="incident_updated")
    ctx["event"]["payload"].update(payload)
    return ctx


def test_a_slipped_eta_is_owned_up_to(catalog: TemplateCatalog) -> None:
    email = catalog.render("incident_updated", ChannelName.EMAIL, "en", updated("en"))
    assert "taking longer than we told you" in email.text
    assert "7:00 AM EST" in email.text and "1:00 PM EST" in email.text
    assert "sorry" in email.text
    sms = catalog.render("incident_updated", ChannelName.SMS, "fr", updated("fr"))
    assert "Plus long que prévu" in sms.text and "19h00 et non 13h00" in sms.text


def test_an_unchanged_eta_is_confirmed_not_apologised_for(catalog: TemplateCatalog) -> None:
    ctx = updated("en", eta_changed=False, eta_slipped=False)
    email = catalog.render("incident_updated", ChannelName.EMAIL, "en", ctx)
    assert "We still expect a fix by Sunday, March 1 at 1:00 PM EST." in email.text
    assert "longer" not in email.text
    sms = catalog.render("incident_updated", ChannelName.SMS, "en", ctx)
    assert "expected" not in sms.text  # nothing new to say about the time


def test_an_earlier_eta_is_good_news(catalog: TemplateCatalog) -> None:
    ctx = updated("fr", eta_changed=True, eta_slipped=False)
    email = catalog.render("incident_updated", ChannelName.EMAIL, "fr", ctx)
    assert "Bonne nouvelle" in email.text and "dimanche 1 mars à 19h00" in email.text


def test_eta_in_the_customers_own_timezone(catalog: TemplateCatalog) -> None:
    ctx = sample_context("fr", message="incident_declared")
    ctx["incident"]["eta"] = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    sms = catalog.render("incident_declared", ChannelName.SMS, "fr", ctx)
    assert "Retour prévu dimanche à 19h00." in sms.text
    ctx["customer"]["timezone"] = "America/Montreal"
    sms = catalog.render("incident_declared", ChannelName.SMS, "fr_CA", ctx)
    assert "Retour prévu dimanche à 13h00." in sms.text


def test_resolved_gives_the_cause_and_the_tip(catalog: TemplateCatalog) -> None:
    email = catalog.render(
        "incident_resolved", ChannelName.EMAIL, "en", sample_context("en", message="resolved")
    )
    assert "What happened: A storm cut power" in email.text
    assert "Good to know: Radio still silent?" in email.text
    assert "lasted about 20 hours" in email.text
    assert email.html is not None and "What happened: A storm cut power" in email.html


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("sparse", [False, True])
def test_every_shipped_message_renders_fully_and_sparsely(
    catalog: TemplateCatalog, message: str, locale: str, sparse: bool
) -> None:
    ctx = sample_context(locale, message=message, sparse=sparse)
    email = catalog.render(message, ChannelName.EMAIL, locale, ctx)
    assert email.subject and "\n" not in email.subject
    assert email.html is not None and "<script" not in email.html and "http" in email.html
    assert ctx["customer"]["name"] in email.text
    sms = catalog.render(message, ChannelName.SMS, locale, ctx)
    assert sms.text.startswith("XM Radio")
    assert 1 <= sms_segments(sms.text).segments <= 2
    whatsapp = catalog.render(message, ChannelName.WHATSAPP, locale, ctx)
    assert whatsapp.channel is ChannelName.WHATSAPP
    assert (whatsapp.subject, whatsapp.html) == (None, None)
    assert whatsapp.text.startswith("*XM Radio*") and ctx["incident"]["title"] in whatsapp.text
    assert "None" not in whatsapp.text and len(whatsapp.text) <= 4096


def test_every_message_sent_by_sms_has_whatsapp_templates_too() -> None:
    """A rule may move a message from SMS to WhatsApp: its templates are shipped."""
    by_sms = {p.parent.name for p in SHIPPED.glob("*/sms.*.j2")}
    missing = [
        f"{message}/whatsapp.{locale}.j2"
        for message in sorted(by_sms)
        for locale in ("en", "fr")
        if not (SHIPPED / message / f"whatsapp.{locale}.j2").is_file()
    ]
    assert missing == []


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(SHIPPED).as_posix() for p in SHIPPED.glob("*/whatsapp.*.j2"))
)
@pytest.mark.parametrize("sparse", [False, True])
def test_every_shipped_whatsapp_template_renders_within_its_limit(
    catalog: TemplateCatalog, path: str, sparse: bool
) -> None:
    message, name = path.split("/")
    locale = name.split(".")[1]
    ctx = sample_context(locale, message=message, sparse=sparse)
    rendered = catalog.render(message, ChannelName.WHATSAPP, locale, ctx)
    assert rendered.text.startswith("*XM Radio*")
    assert "None" not in rendered.text and len(rendered.text) <= 4096
