"""The shipped follow-up and deadline templates: honest, specific, in the reader's own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.engine import RuleSet
from notifier.templating import TemplateCatalog, sample_context, sms_segments

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "templates"

# (message, channel, locale) of every template added for follow-ups and deadlines.
CUSTOMER_MESSAGES = {
    "incident_still_working": (ChannelName.EMAIL,),
    "incident_eta_passed": (ChannelName.EMAIL, ChannelName.SMS),
    "incident_holding": (ChannelName.EMAIL, ChannelName.SMS),
}
OPS_MESSAGES = ("ops_eta_near", "ops_eta_passed", "ops_update_overdue")
CUSTOMER_CASES = [
    (message, channel, locale)
    for message, channels in CUSTOMER_MESSAGES.items()
    for channel in channels
    for locale in ("en", "fr")
]

ETA = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)  # the sample's ETA: 1:00 PM EST, 19h00 Paris
NEXT_UPDATE = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 9:00 PM EST on Saturday, 03h00 Paris


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.from_directory(SHIPPED)


def render(
    catalog: TemplateCatalog, message: str, channel: ChannelName, ctx: dict[str, Any]
) -> RenderedMessage:
    return catalog.render(message, channel, ctx["customer"]["locale"], ctx)


def full_text(rendered: RenderedMessage) -> str:
    return "\n".join(part for part in (rendered.subject, rendered.text, rendered.html) if part)


def operations(message: str, *, now: datetime, sparse: bool = False) -> dict[str, Any]:
    """The context an operations message gets: the pseudo-customer, in UTC."""
    ctx = sample_context("en", message=message, sparse=sparse)
    ctx["customer"] = {
        "id": "operations",
        "name": "Operations",
        "email": "ops@example.com",
        "phone": None,
        "locale": "en",
        "timezone": "UTC",
    }
    ctx["now"] = now
    return ctx


# The sample contexts


def test_the_sample_has_the_next_update_promise_only_while_it_is_open() -> None:
    assert sample_context("en")["incident"]["next_update_by"] == NEXT_UPDATE
    assert sample_context("en", message="x_declared")["incident"]["next_update_by"] == NEXT_UPDATE
    assert sample_context("en", message="x_resolved")["incident"]["next_update_by"] is None
    assert sample_context("en", sparse=True)["incident"]["next_update_by"] is None


def test_the_sample_payload_has_the_keys_of_deadlines_and_follow_ups() -> None:
    for sparse in (False, True):
        ctx = sample_context("fr", message="incident_holding", sparse=sparse)
        payload = ctx["event"]["payload"]
        updated = {"update_id", "eta", "previous_eta", "eta_changed", "eta_slipped"}
        assert updated | {"workaround_changed"} <= payload.keys()
        # Never None in a real deadline or follow-up event, so not in the sparse sample either.
        assert datetime.fromisoformat(payload["deadline"]) == ETA
        assert isinstance(payload["schedule_id"], int)
        assert payload["rule"] == "still-working" and payload["n"] == 1
        assert datetime.fromisoformat(payload["due_at"]).tzinfo is not None


# Every new template


@pytest.mark.parametrize(("message", "channel", "locale"), CUSTOMER_CASES)
@pytest.mark.parametrize("sparse", [False, True])
def test_customer_messages_render_fully_and_sparsely(
    catalog: TemplateCatalog, message: str, channel: ChannelName, locale: str, sparse: bool
) -> None:
    ctx = sample_context(locale, message=message, sparse=sparse)
    rendered = render(catalog, message, channel, ctx)
    text = full_text(rendered)
    assert ctx["incident"]["title"] in rendered.text
    assert "None" not in text
    if channel is ChannelName.EMAIL:
        assert rendered.subject and ctx["incident"]["title"] in rendered.subject
        assert ctx["customer"]["name"] in rendered.text
        assert rendered.html is not None and ctx["company"]["support_url"] in rendered.html
    else:
        assert rendered.text.startswith("XM Radio")
        assert 1 <= sms_segments(rendered.text).segments <= 2


@pytest.mark.parametrize("message", OPS_MESSAGES)
@pytest.mark.parametrize("sparse", [False, True])
def test_operations_messages_render_fully_and_sparsely(
    catalog: TemplateCatalog, message: str, sparse: bool
) -> None:
    email = render(catalog, message, ChannelName.EMAIL, operations(message, now=ETA, sparse=sparse))
    text = full_text(email)
    assert "None" not in text
    assert email.subject and "#317" in email.subject
    assert "No XM satellite signal in the Northeast" in email.subject
    for fact in ("identified", "major", "satellite-radio, home-receivers", "317"):
        assert fact in email.text
    assert email.html is not None and "satellite-radio, home-receivers" in email.html


# What each one says


def test_still_working_gives_the_latest_news_eta_and_workaround(
    catalog: TemplateCatalog,
) -> None:
    email = render(catalog, "incident_still_working", ChannelName.EMAIL, sample_context("en"))
    assert "still working on it" in email.text
    assert "We have found the cause and are fixing it." in email.text
    assert "Latest news: We found the fault" in email.text
    assert "Our current estimate for the fix is Sunday, March 1 at 1:00 PM EST." in email.text
    assert "In the meantime: Listen to your channels in the XM app." in email.text
    # No time is promised for the next message: only that there will be one.
    assert "We will write again when there is news, and when it is fixed." in email.text

    email = render(catalog, "incident_still_working", ChannelName.EMAIL, sample_context("fr"))
    assert "retour à la normale dimanche 1 mars à 19h00" in email.text
    assert "En attendant : Écoutez vos chaînes sur l'appli XM." in email.text


def test_still_working_does_not_repeat_an_eta_that_has_passed(catalog: TemplateCatalog) -> None:
    ctx = sample_context("en")
    ctx["now"] = ETA + timedelta(hours=1)
    email = render(catalog, "incident_still_working", ChannelName.EMAIL, ctx)
    assert "current estimate" not in email.text
    assert "We hoped to have it fixed by Sunday, March 1 at 1:00 PM EST." in email.text
    assert "We are sorry." in email.text

    ctx = sample_context("fr")
    ctx["now"] = ETA + timedelta(hours=1)
    email = render(catalog, "incident_still_working", ChannelName.EMAIL, ctx)
    assert "Nous espérions que ce serait réparé dimanche 1 mars à 19h00." in email.text


def test_eta_passed_owns_up_to_the_missed_time(catalog: TemplateCatalog) -> None:
    ctx = sample_context("en", message="incident_eta_passed")
    email = render(catalog, "incident_eta_passed", ChannelName.EMAIL, ctx)
    assert "We told you service would be back by Sunday, March 1 at 1:00 PM EST" in email.text
    assert "We are sorry" in email.text
    assert "Where we are: We found the fault" in email.text
    assert "In the meantime: Listen to your channels in the XM app." in email.text
    assert "We will write again as soon as we have a new estimate." in email.text
    sms = render(catalog, "incident_eta_passed", ChannelName.SMS, ctx)
    assert "We said it would be fixed by Sunday 1:00 PM. It isn't yet, sorry." in sms.text
    assert "Meanwhile: Listen to your channels in the XM app." in sms.text

    ctx = sample_context("fr", message="incident_eta_passed")
    email = render(catalog, "incident_eta_passed", ChannelName.EMAIL, ctx)
    assert "un retour à la normale dimanche 1 mars à 19h00" in email.text
    assert "désolés" in email.text and "nouvelle estimation" in email.text
    sms = render(catalog, "incident_eta_passed", ChannelName.SMS, ctx)
    assert "Pas réparé à 19h00 comme prévu, désolés." in sms.text
    assert "Écoutez vos chaînes sur l'appli XM." in sms.text


def test_eta_passed_in_the_customers_own_timezone(catalog: TemplateCatalog) -> None:
    ctx = sample_context("fr", message="incident_eta_passed")
    ctx["customer"]["timezone"] = "America/Montreal"
    sms = render(catalog, "incident_eta_passed", ChannelName.SMS, ctx)
    assert "Pas réparé à 13h00" in sms.text


def test_eta_passed_without_an_eta_or_workaround_still_apologises(
    catalog: TemplateCatalog,
) -> None:
    ctx = sample_context("en", message="incident_eta_passed", sparse=True)
    email = render(catalog, "incident_eta_passed", ChannelName.EMAIL, ctx)
    assert "The time we gave you for the fix has passed" in email.text
    assert "In the meantime" not in email.text
    sms = render(catalog, "incident_eta_passed", ChannelName.SMS, ctx)
    assert "sorry" in sms.text and "Meanwhile" not in sms.text


def test_holding_names_the_missed_promise(catalog: TemplateCatalog) -> None:
    ctx = sample_context("en", message="incident_holding")
    email = render(catalog, "incident_holding", ChannelName.EMAIL, ctx)
    assert "We promised you an update on" in email.text
    assert "by Saturday, February 28 at 9:00 PM EST" in email.text
    assert "still working on it" in email.text
    assert "In the meantime: Listen to your channels in the XM app." in email.text
    sms = render(catalog, "incident_holding", ChannelName.SMS, ctx)
    assert "We promised an update by Saturday 9:00 PM. Nothing new yet" in sms.text

    ctx = sample_context("fr", message="incident_holding")
    email = render(catalog, "incident_holding", ChannelName.EMAIL, ctx)
    assert "pour dimanche 1 mars à 03h00" in email.text
    sms = render(catalog, "incident_holding", ChannelName.SMS, ctx)
    assert "Nouvelles promises pour 03h00" in sms.text

    ctx = sample_context("en", message="incident_holding", sparse=True)
    sms = render(catalog, "incident_holding", ChannelName.SMS, ctx)
    assert "Nothing new yet, but we're still on it." in sms.text


def test_ops_eta_near_says_how_long_is_left_and_what_to_run(catalog: TemplateCatalog) -> None:
    ctx = operations("ops_eta_near", now=ETA - timedelta(minutes=30))
    email = render(catalog, "ops_eta_near", ChannelName.EMAIL, ctx)
    assert email.subject == (
        "ETA in 30 minutes, not resolved: incident #317 No XM satellite signal in the Northeast"
    )
    assert "the ETA, Sun Mar 1, 18:00 UTC, is in 30 minutes" in email.text
    assert "no resolution yet" in email.text
    assert "notifier incident update 317 --message" in email.text and "--eta" in email.text
    assert "notifier incident resolve 317 --cause" in email.text
    assert "Next update: promised by Sun Mar 1, 02:00 UTC" in email.text


def test_ops_eta_passed_says_customers_were_told_and_what_to_do(
    catalog: TemplateCatalog,
) -> None:
    email = render(
        catalog, "ops_eta_passed", ChannelName.EMAIL, operations("ops_eta_passed", now=ETA)
    )
    assert "the ETA, Sun Mar 1, 18:00 UTC, has passed and it is not resolved" in email.text
    assert "rules tell customers" in email.text
    assert "What customers were told: 1180 by email and 412 by SMS now; " in email.text
    assert "655 by SMS held back by quiet hours" in email.text and "124 not sent" in email.text
    assert "notifier incident update 317 --message" in email.text and "--eta" in email.text
    assert "Workaround:  Listen to your channels in the XM app." in email.text


def test_ops_update_overdue_names_the_missed_promise(catalog: TemplateCatalog) -> None:
    ctx = operations("ops_update_overdue", now=NEXT_UPDATE + timedelta(minutes=1))
    email = render(catalog, "ops_update_overdue", ChannelName.EMAIL, ctx)
    assert "an update was promised by Sun Mar 1, 02:00 UTC and none has been posted" in email.text
    assert "holding message" in email.text
    assert "notifier incident update 317 --message" in email.text
    assert "ETA:         Sun Mar 1, 18:00 UTC" in email.text


def test_every_template_the_shipped_rules_name_exists_in_english() -> None:
    names = {p.relative_to(SHIPPED).as_posix() for p in SHIPPED.glob("*/*.j2")}
    for rule in RuleSet.load(ROOT / "rules").rules:
        for channel in rule.channels:
            assert f"{rule.template}/{channel}.en.j2" in names, rule.name
