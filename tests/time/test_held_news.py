"""A message held for quiet hours gives way only to news that reaches the same person the
same way: an email-only update does not silence a waiting SMS."""

from __future__ import annotations

from pathlib import Path

from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.runtime.simulate import SimulatedMessage, simulate

ROOT = Path(__file__).resolve().parents[2]

# 01:00 UTC is 20:00 in New York. The ETA passes at 23:00, inside the SMS quiet hours
# (21:00-08:00): the "ETA missed" SMS waits for 08:00, the email goes at once.
NIGHT = """
start = "2026-01-15T01:00:00Z"
horizon = "+20h"

[[customers]]
id = "c-ny"
name = "Ann Lee"
email = "ann@example.com"
phone = "+12015550123"
locale = "{locale}"
timezone = "America/New_York"
services = ["r"]

[[events]]
at = "+0m"
declare = { title = "Outage", severity = "major", affects = ["r"], eta = "+3h" }

[[events]]
at = "+5h"
{later}

[[events]]
at = "+17h"
resolve = { incident = 1, cause = "A power cut." }
"""
EMAIL_ONLY = 'update = { incident = 1, message = "Engineers are on site." }'
WITH_NEW_ETA = 'update = { incident = 1, message = "Engineers are on site.", eta = "+12h" }'


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )


async def _night(tmp_path: Path, later: str, locale: str = "en") -> list[SimulatedMessage]:
    path = tmp_path / "night.toml"
    path.write_text(NIGHT.replace("{later}", later).replace("{locale}", locale), "utf-8")
    return await simulate(_settings(tmp_path), load_scenario(path))


def _texts(messages: list[SimulatedMessage]) -> list[tuple[str, str]]:
    return [(f"{m.time:%H:%M}", m.rule) for m in messages if m.channel == "sms"]


async def test_an_email_only_update_leaves_the_held_sms_to_go(tmp_path: Path) -> None:
    messages = await _night(tmp_path, EMAIL_ONLY)
    assert ("06:00", "incident-updated-email") in {
        (f"{m.time:%H:%M}", m.rule) for m in messages if m.channel == "email"
    }
    # 08:00 in New York: the phone's last word is not the broken promise left unexplained.
    assert _texts(messages) == [
        ("01:00", "incident-declared-sms"),
        ("13:00", "eta-passed-customers"),
        ("18:00", "incident-resolved-sms"),
    ]


async def test_an_sms_with_newer_news_replaces_the_held_one(tmp_path: Path) -> None:
    texts = _texts(await _night(tmp_path, WITH_NEW_ETA))
    assert texts == [
        ("01:00", "incident-declared-sms"),
        ("06:00", "incident-updated-sms"),  # the slipped ETA is worth waking for
        ("18:00", "incident-resolved-sms"),
    ]


async def test_the_operations_alert_reports_what_customers_were_told(tmp_path: Path) -> None:
    messages = await _night(tmp_path, EMAIL_ONLY)
    alert = next(m for m in messages if m.rule == "eta-passed-operations")
    said = " ".join(alert.text.split())
    assert (
        "What customers were told: 1 by email and 0 by SMS now; "
        "0 by email and 1 by SMS held back by quiet hours, going when those end."
    ) in said
