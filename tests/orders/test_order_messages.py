"""The shipped order rules and templates: who hears what, and what they read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.domain.messages import ChannelName
from notifier.engine import Condition, RuleSet
from notifier.templating import TemplateCatalog, sample_context, sms_segments
from notifier.templating.lint import lint_directory

ROOT = Path(__file__).resolve().parents[2]
EMAIL, SMS = ChannelName.EMAIL, ChannelName.SMS
MESSAGES = {
    "order_shipped": [EMAIL],
    "order_out_for_delivery": [SMS, EMAIL],
    "order_delayed": [EMAIL, SMS],
    "order_exception": [EMAIL, SMS],
    "order_at_risk": [EMAIL],
    "order_late": [EMAIL],
}


@pytest.fixture(scope="module")
def catalog() -> TemplateCatalog:
    return TemplateCatalog.from_directory(ROOT / "templates")


def test_who_hears_what() -> None:
    rules = RuleSet.load(ROOT / "rules")
    heard = {
        kind: sorted(
            (r.template, c.value, r.fallback_channel)
            for r in rules.for_event(kind)
            for c in r.channels
        )
        for kind in (
            "order.shipped",
            "order.out_for_delivery",
            "order.delayed",
            "order.exception",
            "order.at_risk",
            "order.late",
            "order.placed",
        )
    }
    assert heard == {
        "order.shipped": [("order_shipped", "email", None)],
        "order.out_for_delivery": [("order_out_for_delivery", "sms", EMAIL)],
        "order.delayed": [("order_delayed", "email", None), ("order_delayed", "sms", None)],
        "order.exception": [("order_exception", "email", None), ("order_exception", "sms", None)],
        "order.at_risk": [("order_at_risk", "email", None)],
        "order.late": [("order_late", "email", None)],
        "order.placed": [],
    }
    assert {r.audience for r in rules.rules if r.name.startswith("order-")} == {"customer"}


def test_the_shipped_templates_lint_clean() -> None:
    issues = [i for i in lint_directory(ROOT / "templates") if i.file.startswith("order_")]
    assert issues == []


@pytest.mark.parametrize("message", sorted(MESSAGES))
@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("sparse", [False, True])
def test_every_order_message_renders(
    catalog: TemplateCatalog, message: str, locale: str, sparse: bool
) -> None:
    for channel in MESSAGES[message]:
        rendered = catalog.render(
            message, channel, locale, sample_context(locale, message=message, sparse=sparse)
        )
        assert "XM-88412" in rendered.text
        if channel is SMS:
            assert sms_segments(rendered.text).segments <= 2


def test_a_delay_gives_the_new_date_or_says_there_is_none(catalog: TemplateCatalog) -> None:
    ctx = sample_context("en", message="order_delayed")
    email = catalog.render("order_delayed", EMAIL, "en", ctx)
    assert (
        "later than the date we gave you: we now expect to deliver it by Friday, March 6"
        in email.text
    )
    assert "What happened: The parcel was damaged" in email.text
    sms = catalog.render("order_delayed", SMS, "fr", sample_context("fr", message="order_delayed"))
    assert "Nouvelle date de livraison : vendredi 6 mars." in sms.text
    # Delayed, but the promise did not move: no new date to give yet.
    ctx["event"]["payload"]["previous_promised_date"] = ctx["event"]["payload"]["promised_date"]
    email = catalog.render("order_delayed", EMAIL, "en", ctx)
    assert "may not arrive by Friday, March 6 as we said" in email.text
    assert "We'll send you the new date" in catalog.render("order_delayed", SMS, "en", ctx).text


def test_late_apologises_with_the_new_estimate_if_any(catalog: TemplateCatalog) -> None:
    ctx = sample_context("en", message="order_late")
    email = catalog.render("order_late", EMAIL, "en", ctx)
    assert "it has not arrived. We are sorry we did not keep our word" in email.text
    ctx["order"]["promised_date"] = ctx["order"]["promised_date"] + timedelta(days=3)
    ctx["order"]["promised_by"] = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)
    email = catalog.render("order_late", EMAIL, "en", ctx)
    assert "Our new estimate: delivery by Monday, March 9." in email.text


def test_exception_says_what_the_customer_can_do(catalog: TemplateCatalog) -> None:
    email = catalog.render(
        "order_exception", EMAIL, "fr", sample_context("fr", message="order_exception")
    )
    assert "Ce que vous pouvez faire" in email.text and "1Z999AA10123456784" in email.text
    assert email.html is not None and "<li>" in email.html


@pytest.mark.parametrize(
    "source",
    [
        "event.payload.promised_date != event.payload.previous_promised_date",
        "event.payload.note is not none and order.carrier == 'UPS'",
        "order.is_open and order.promised_by is not none and event.payload.tracking",
    ],
)
def test_conditions_can_read_order_events(source: str) -> None:
    Condition(source)  # loads: every field is in the conditions' sample, and it evaluates
