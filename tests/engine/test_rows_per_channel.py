"""Planning asks the channel's class: its address and whether quiet hours hold it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.channels.registry import channel_class
from notifier.config import Settings
from notifier.domain.customers import NO_ADDRESS, Customer
from notifier.domain.messages import ChannelName
from notifier.engine import RuleSet
from notifier.engine.occasions import Occasion
from notifier.engine.rows import MessageBuilder, _quiet_until
from notifier.templating import sample_context
from notifier.templating.catalog import LiveCatalog

from .helpers import rule_toml

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
NIGHT = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 23:00 in New York
ANN = Customer(
    id="c-1",
    name="Ann Lee",
    email="ann@example.com",
    phone="+12015550123",
    locale="en",
    timezone="America/New_York",
)


@pytest.mark.parametrize("name", list(ChannelName))
@pytest.mark.parametrize("email_too", [False, True])
def test_quiet_hours_hold_what_reaches_a_phone(name: ChannelName, email_too: bool) -> None:
    """Email waits for the night to end only when the rule says so; SMS and WhatsApp
    always do: what the class declares, not what its name is."""
    [rule] = RuleSet.from_texts(
        {
            "r.toml": rule_toml(
                channels=[name.value], quiet_hours="21:00-08:00", quiet_hours_email=email_too
            )
        }
    ).rules
    held = _quiet_until(rule, name, ANN, {"incident": {"severity": "major"}}, NIGHT)
    assert (held is not None) == (channel_class(name).intrusive or email_too)
    if name is not ChannelName.EMAIL:
        assert held is not None  # a message to a phone never buzzes at 23:00


@pytest.mark.parametrize("name", list(ChannelName))
def test_each_channel_plans_to_its_own_address_and_text(name: ChannelName) -> None:
    """The shipped templates, rendered for every channel: the message carries the address the
    class names and the channel's own kind of text; no phone means suppressed."""
    cls = channel_class(name)
    builder = MessageBuilder(templates=LiveCatalog(SHIPPED), settings=Settings())
    occasion = Occasion("e1", 1, "incident", "1")
    [rule] = RuleSet.from_texts({"r.toml": rule_toml(channels=[name.value])}).rules
    context = sample_context("en", message="incident_declared")
    [planned] = builder.messages(occasion, rule, ANN, name, context, NIGHT, {})
    assert planned.status == "pending", planned.reason
    assert planned.channel is name
    assert planned.recipient == ANN.address(cls.address_field)
    assert (planned.subject is not None) == cls.has_subject
    assert (planned.html is not None) == cls.has_html
    assert planned.text is not None and context["incident"]["title"] in planned.text

    nobody = replace(ANN, email=None, phone=None)
    [planned] = builder.messages(occasion, rule, nobody, name, context, NIGHT, {})
    assert (planned.status, planned.reason) == ("suppressed", NO_ADDRESS[cls.address_field])


def test_a_text_over_the_channels_limit_fails_at_planning(tmp_path: Path) -> None:
    """WhatsApp has no segments: 4096 characters is the limit, and one more fails the row
    (an SMS of that length would be refused for its segments)."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "whatsapp.en.j2").write_text("{{ 'x' * n }}", encoding="utf-8")
    builder = MessageBuilder(templates=LiveCatalog(tmp_path), settings=Settings())
    [rule] = RuleSet.from_texts({"r.toml": rule_toml(channels=["whatsapp"], template="m")}).rules
    occasion = Occasion("e1", 1, "incident", "1")
    rows = [
        builder.messages(occasion, rule, ANN, ChannelName.WHATSAPP, {"n": n}, NIGHT, {})[0]
        for n in (4096, 4097)
    ]
    assert [r.status for r in rows] == ["pending", "failed"]
    assert rows[1].reason == "WhatsApp is 4097 characters, over the limit of 4096"
