"""Quiet hours hold every rule, grouped or not; a critical incident still overrides them.

Every shipped rule with both `group = true` and quiet hours, for every event kind it
listens to, in a zone behind UTC and one ahead of it: an event at 03:00 local is told in
the morning, not at 03:02 when the grouping window closes.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.runtime.simulate import SimulatedMessage, simulate

ROOT = Path(__file__).resolve().parents[2]
ZONES = {"en": "America/New_York", "fr": "Europe/Paris"}


def _grouped_quiet_rules() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((ROOT / "rules").glob("*.toml")):
        for rule in tomllib.loads(path.read_text("utf-8")).get("rule", []):
            if rule.get("group") and rule.get("quiet_hours"):
                kinds = rule["on"] if isinstance(rule["on"], list) else [rule["on"]]
                found += [(rule["name"], kind, rule["quiet_hours"]) for kind in kinds]
    return found


def _settings(tmp_path: Path, rules: Path = ROOT / "rules") -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"},
        paths={"rules": rules, "templates": ROOT / "templates"},
    )


def _customer(locale: str) -> str:
    return f"""
[[customers]]
id = "c-1"
name = "Ann Lee"
email = "ann@example.com"
phone = "{"+12015550123" if locale == "en" else "+33612345678"}"
locale = "{locale}"
timezone = "{ZONES[locale]}"
services = ["r"]
"""


def _three_am(locale: str) -> datetime:
    local = datetime(2026, 1, 15, 3, 0, tzinfo=ZoneInfo(ZONES[locale]))
    return local.astimezone(ZoneInfo("UTC"))


def _order_path(kind: str) -> list[str]:
    status = kind.removeprefix("order.")
    return ["placed", status] if status == "delayed" else ["placed", "shipped", status]


def _local_hours(messages: list[SimulatedMessage], rule: str, locale: str) -> list[str]:
    zone = ZoneInfo(ZONES[locale])
    return [
        f"{m.time.astimezone(zone):%H:%M}" for m in messages if rule in m.rule.split(",")
    ]


def test_the_shipped_rules_have_grouped_rules_with_quiet_hours() -> None:
    kinds = {kind for _, kind, _ in _grouped_quiet_rules()}
    assert kinds >= {"order.delayed", "order.exception"}


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize(("rule", "kind", "quiet"), _grouped_quiet_rules())
async def test_a_grouped_rule_waits_for_the_morning(
    tmp_path: Path, rule: str, kind: str, quiet: str, locale: str
) -> None:
    assert kind.startswith("order."), f"{rule}: write the scenario for {kind}"
    events = "".join(
        f'\n[[events]]\nat = "+0m"\norder = {{ id = "A-1", status = "{status}"'
        + (', customer = "c-1", promised_date = "2026-01-20"' if n == 0 else "")
        + (', promised_date = "2026-01-22"' if status == "delayed" else "")
        + " }\n"
        for n, status in enumerate(_order_path(kind))
    )
    path = tmp_path / "night.toml"
    path.write_text(
        f'start = "{_three_am(locale).isoformat()}"\nhorizon = "+20h"\n'
        + _customer(locale)
        + events,
        "utf-8",
    )
    messages = await simulate(_settings(tmp_path), load_scenario(path))
    morning = quiet.split("-")[1]
    assert _local_hours(messages, rule, locale) == [morning], (
        f"{rule} on {kind} at 03:00 in {ZONES[locale]}: sent at "
        f"{_local_hours(messages, rule, locale)} local, quiet hours {quiet}"
    )


GROUPED_INCIDENT_SMS = """
[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
template = "incident_declared"
quiet_hours = "21:00-08:00"
group = true
"""


@pytest.mark.parametrize(("severity", "expected"), [("critical", "03:00"), ("major", "08:00")])
async def test_a_critical_incident_overrides_the_quiet_hours_of_a_grouped_rule(
    tmp_path: Path, severity: str, expected: str
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(GROUPED_INCIDENT_SMS, "utf-8")
    path = tmp_path / "night.toml"
    path.write_text(
        f'start = "{_three_am("en").isoformat()}"\nhorizon = "+20h"\n'
        + _customer("en")
        + '\n[[events]]\nat = "+0m"\n'
        + f'declare = {{ title = "Outage", severity = "{severity}", affects = ["r"] }}\n',
        "utf-8",
    )
    messages = await simulate(_settings(tmp_path, rules), load_scenario(path))
    assert _local_hours(messages, "declared-sms", "en") == [expected]
    assert all(m.time - _three_am("en") < timedelta(hours=6) for m in messages)


async def test_an_outage_text_in_the_night_leaves_the_held_order_text_for_the_morning(
    tmp_path: Path,
) -> None:
    path = tmp_path / "night.toml"
    path.write_text(
        f'start = "{_three_am("en").isoformat()}"\nhorizon = "+20h"\n'
        + _customer("en")
        + '\n[[events]]\nat = "+0m"\norder = { id = "A-1", status = "placed", '
        + 'customer = "c-1", promised_date = "2026-01-20" }\n'
        + '\n[[events]]\nat = "+0m"\norder = { id = "A-1", status = "delayed", '
        + 'promised_date = "2026-01-22" }\n'
        + '\n[[events]]\nat = "+1m"\n'
        + 'declare = { title = "Outage", severity = "major", affects = ["r"] }\n',
        "utf-8",
    )
    messages = await simulate(_settings(tmp_path), load_scenario(path))
    zone = ZoneInfo(ZONES["en"])
    texts = [(f"{m.time.astimezone(zone):%H:%M}", m.rule) for m in messages if m.channel == "sms"]
    assert texts == [("03:01", "incident-declared-sms"), ("08:00", "order-delayed-sms")]
