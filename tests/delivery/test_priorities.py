"""Priorities: a rule's priority rides on its messages, and the claim takes the most important
first, so a long order backlog never delays an outage notice. SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.messages import ChannelName
from notifier.engine import RuleSet
from notifier.engine.rule_fields import PRIORITIES
from tests.engine.helpers import only_error, rule_toml
from tests.scale.test_claims import NOW, claim, enqueue, row

RULES = Path(__file__).resolve().parents[2] / "rules"
WHERE = "rules/incidents.toml: rule 'tell-affected'"


@pytest.mark.parametrize(
    ("value", "expected"), [("urgent", 90), ("bulk", 10), (0, 0), (100, 100), (42, 42)]
)
def test_a_rule_names_its_priority_or_gives_a_number(value: object, expected: int) -> None:
    (rule,) = RuleSet.from_texts({"a.toml": rule_toml(priority=value)}).rules
    assert rule.priority == expected


@pytest.mark.parametrize(
    ("value", "got"),
    [("highest", "a string"), (101, "an integer (101)"), (-1, "an integer (-1)"),
     (True, "a boolean (True)")],
)
def test_a_bad_priority_says_what_it_takes(value: object, got: str) -> None:
    assert only_error(priority=value) == (
        f"{WHERE}: priority: expected one of urgent, high, normal, low, bulk or an integer "
        f"from 0 to 100, got {got}"
    )


def _expected(rule_on: tuple[str, ...], audience: str, follow_up: bool) -> int:
    if audience == "operations":
        return PRIORITIES["urgent"]
    if follow_up or any(k.split(".")[1] in {"eta_near", "eta_passed", "update_overdue"}
                        for k in rule_on):
        return PRIORITIES["low"]
    if "incident.declared" in rule_on:
        return PRIORITIES["urgent"]
    if any(k in {"incident.updated", "incident.resolved"} for k in rule_on):
        return PRIORITIES["high"]
    return PRIORITIES["normal"]


def test_every_shipped_rule_has_the_priority_of_its_kind_of_news() -> None:
    """Incident news first, then its updates and end, then orders, then follow-ups;
    operations' alerts never wait behind customers' messages."""
    rules = RuleSet.load(RULES).rules
    assert rules
    for rule in rules:
        follow_up = rule.every is not None or rule.after is not None
        assert rule.priority == _expected(rule.on, rule.audience, follow_up), rule.name
    kinds = {rule.priority for rule in rules}
    assert {PRIORITIES["urgent"], PRIORITIES["high"], PRIORITIES["normal"]} <= kinds


async def test_an_outage_notice_is_claimed_before_an_order_backlog(engine: AsyncEngine) -> None:
    backlog = [
        replace(row(i, "sms", due=NOW.replace(hour=9)), subject_type="order", priority=50)
        for i in range(200)
    ]
    notice = replace(row(999, "sms"), key="declared", priority=90)  # due last of all
    follow_up = replace(row(998, "sms"), key="follow-up", priority=30)
    await enqueue(engine, [*backlog, follow_up, notice])

    first = await claim(engine, limit=1, channel=ChannelName.SMS)
    assert [m.key for m in first] == ["declared"]
    batch = await claim(engine, limit=50, channel=ChannelName.SMS)
    assert {m.priority for m in batch} == {50}
    assert [m.id for m in batch] == sorted(m.id for m in batch)  # oldest due first within
    rest = await claim(engine, limit=1000, channel=ChannelName.SMS)
    assert rest[-1].key == "follow-up"


async def test_every_channel_claim_takes_priority_first_too(engine: AsyncEngine) -> None:
    await enqueue(engine, [replace(row(i, "email"), priority=10) for i in range(20)])
    await enqueue(engine, [replace(row(50, "sms"), key="urgent-sms", priority=90)])
    (first,) = await claim(engine, limit=1)
    assert first.key == "urgent-sms"
