"""The rule set in force, its reload, and the rules shipped in rules/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from notifier.domain.messages import ChannelName
from notifier.engine import LiveRules, RuleSet, RuleSetError, sample_context

from .helpers import rule_toml

SHIPPED = Path(__file__).resolve().parents[2] / "rules"


def test_a_failed_first_load_raises(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(rule_toml(channels=["fax"]))
    with pytest.raises(RuleSetError, match="'fax' is not a channel"):
        LiveRules(tmp_path)


def test_reload_keeps_the_last_good_set_and_picks_up_the_fix(tmp_path: Path) -> None:
    rule_file = tmp_path / "incidents.toml"
    rule_file.write_text(rule_toml(name="first"))
    live = LiveRules(tmp_path)
    first = live.current
    assert [r.name for r in first.rules] == ["first"]

    rule_file.write_text(rule_toml(name="second", channels=["email", "fax"]))
    errors = live.reload()
    assert errors == [
        f"{rule_file}: rule 'second': channels: 'fax' is not a channel (email, sms, whatsapp)"
    ]
    assert live.current is first

    (tmp_path / "extra.toml").write_text("[[rule]\n")
    assert len(live.reload()) == 2  # both broken files are reported
    assert live.current is first

    rule_file.write_text(rule_toml(name="second"))
    (tmp_path / "extra.toml").unlink()
    assert live.reload() == []
    assert [r.name for r in live.current.rules] == ["second"]


def test_reload_after_the_directory_is_emptied_keeps_the_rules(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(rule_toml())
    live = LiveRules(tmp_path)
    (tmp_path / "a.toml").unlink()
    assert live.reload() == [f"{tmp_path}: no *.toml rule files"]
    assert len(live.current) == 1


def test_the_shipped_rules_load() -> None:
    rules = RuleSet.load(SHIPPED)
    assert {"incident_declared", "incident_updated", "incident_resolved"} <= rules.templates()
    for rule in rules.rules:
        assert rule.description, rule.name
    followups = [r for r in rules.rules if r.every is not None]
    assert [(r.name, r.every, r.min_gap) for r in followups] == [
        ("still-working", timedelta(hours=4), timedelta(hours=1))
    ]
    # Operations hear about deadlines; customers hear only what concerns them.
    for kind in ("incident.eta_near", "incident.eta_passed", "incident.update_overdue"):
        assert "operations" in {r.audience for r in rules.for_event(kind)}
    assert "affected" not in {r.audience for r in rules.for_event("incident.eta_near")}


@pytest.mark.parametrize(
    ("kind", "severity", "slipped", "expected"),
    [
        ("incident.declared", "minor", False, {ChannelName.EMAIL}),
        ("incident.declared", "major", False, {ChannelName.EMAIL, ChannelName.SMS}),
        ("incident.declared", "critical", False, {ChannelName.EMAIL, ChannelName.SMS}),
        ("incident.updated", "minor", True, {ChannelName.EMAIL}),
        ("incident.updated", "major", False, {ChannelName.EMAIL}),
        ("incident.updated", "major", True, {ChannelName.EMAIL, ChannelName.SMS}),
        ("incident.updated", "critical", False, {ChannelName.EMAIL, ChannelName.SMS}),
        ("incident.resolved", "minor", False, {ChannelName.EMAIL}),
        ("incident.resolved", "major", False, {ChannelName.EMAIL, ChannelName.SMS}),
    ],
)
def test_shipped_rules_text_only_for_serious_incidents(
    kind: str, severity: str, slipped: bool, expected: set[ChannelName]
) -> None:
    context = sample_context()
    context["incident"] = {**context["incident"], "severity": severity}
    payload = {**context["event"]["payload"], "eta_slipped": slipped}
    context["event"] = {**context["event"], "kind": kind, "payload": payload}
    chosen = {
        channel
        for rule in RuleSet.load(SHIPPED).for_event(kind)
        if rule.when is None or rule.when(context)
        for channel in rule.channels
    }
    assert chosen == expected
