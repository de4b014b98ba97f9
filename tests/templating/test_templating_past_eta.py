"""A time in the past is never stated as the plan: every shipped template, every locale.

Once an incident's ETA has gone by and the operator posts without a new one (as the
operations alert itself advises), whatever a customer reads must admit the miss, in email
and SMS, in English and French: "We still expect a fix by 2:00 AM" sent at 05:00 is a lie.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.domain.messages import ChannelName
from notifier.templating import TemplateCatalog, sample_context

SHIPPED = Path(__file__).resolve().parents[2] / "templates"

# Phrases that present the ETA as what will happen; none may follow a passed ETA.
PLANS = {
    "en": ("still expect", "we expect", "expected fix", "current estimate", "now expected"),
    "fr": ("prévoyons", "retour prévu", "estimation actuelle"),
}
# Phrases that own up to a missed time; a message naming the passed ETA needs one.
ADMISSIONS = {
    "en": ("taking longer", "isn't yet", "as we hoped", "has passed", "missed"),
    "fr": (
        "plus longtemps",
        "comme prévu",
        "pas encore le cas",
        "pas encore fait",
        "n'avons pas tenu",
    ),
}
# The sample ETA (18:00 UTC) as each locale's customer reads it.
ETA_CLOCK = {"en": re.compile(r"\b1:00\sPM\b"), "fr": re.compile(r"\b19[h:]00\b")}


def shipped() -> list[tuple[str, ChannelName, str]]:
    """Every shipped template that can speak about an incident (orders have no ETA)."""
    found = []
    for path in sorted(SHIPPED.glob("*/*.j2")):
        if path.parent.name.startswith("order_"):
            continue
        channel, locale = path.name.removesuffix(".j2").split(".")
        found.append((path.parent.name, ChannelName(channel), locale))
    return found


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.from_directory(SHIPPED)


def past_eta(message: str, locale: str) -> dict[str, Any]:
    """The incident three hours past its ETA; the latest update gave no new one."""
    ctx = sample_context(locale, message=message)
    incident = ctx["incident"]
    if not incident["is_open"]:
        incident.update(status="identified", is_open=True, resolved_at=None)
    ctx["now"] = incident["eta"] + timedelta(hours=3)
    ctx["event"]["payload"].update(eta_changed=False, eta_slipped=False, previous_eta=None)
    return ctx


def test_every_shipped_template_is_covered() -> None:
    found = shipped()
    assert {(m, c.value) for m, c, _ in found} >= {
        ("incident_declared", "sms"),
        ("incident_updated", "email"),
        ("incident_holding", "sms"),
    }
    assert {loc for _, _, loc in found} == {"en", "fr"}


@pytest.mark.parametrize(("message", "channel", "locale"), shipped())
def test_a_passed_eta_is_never_the_plan(
    catalog: TemplateCatalog, message: str, channel: ChannelName, locale: str
) -> None:
    ctx = past_eta(message, locale)
    rendered = catalog.render(message, channel, locale, ctx)
    said = " ".join(part for part in (rendered.subject, rendered.text) if part)
    said = re.sub(r"\s+", " ", said.replace("\u202f", " "))
    lowered = said.lower()
    for plan in PLANS[locale]:
        assert plan not in lowered, f"{message}/{channel}.{locale} states a passed ETA: {said}"
    if ETA_CLOCK[locale].search(said):
        assert any(a in lowered for a in ADMISSIONS[locale]), (
            f"{message}/{channel}.{locale} names the passed ETA without owning up: {said}"
        )


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("channel", list(ChannelName))
def test_an_update_without_eta_after_the_miss_says_so(
    catalog: TemplateCatalog, channel: ChannelName, locale: str
) -> None:
    rendered = catalog.render("incident_updated", channel, locale, past_eta("x_updated", locale))
    text = re.sub(r"\s+", " ", rendered.text.replace("\u202f", " "))
    assert ETA_CLOCK[locale].search(text), text
    assert any(a in text.lower() for a in ADMISSIONS[locale]), text


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("channel", list(ChannelName))
def test_the_holding_message_mentions_the_missed_eta(
    catalog: TemplateCatalog, channel: ChannelName, locale: str
) -> None:
    rendered = catalog.render("incident_holding", channel, locale, past_eta("x_holding", locale))
    text = re.sub(r"\s+", " ", rendered.text.replace("\u202f", " "))
    assert ETA_CLOCK[locale].search(text), text
    assert any(a in text.lower() for a in ADMISSIONS[locale]), text


def test_a_future_eta_is_still_the_plan(catalog: TemplateCatalog) -> None:
    ctx = sample_context("en", message="incident_updated")
    ctx["event"]["payload"].update(eta_changed=False, eta_slipped=False)
    email = catalog.render("incident_updated", ChannelName.EMAIL, "en", ctx)
    assert "We still expect a fix by" in email.text
