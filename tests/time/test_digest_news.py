"""A digest keeps each message's news, and its subject names the most important one.

Checked on what the simulation really sends (the shipped rules, templates and grouping),
in both locales: each delayed order keeps its new date in the text digest, and an outage
folded in with an order's delay leads, in the subject and in the list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from notifier.config import Settings
from notifier.engine.scenario import load_scenario
from notifier.runtime.simulate import SimulatedMessage, simulate

ROOT = Path(__file__).resolve().parents[2]
NEW_DATE = {"en": "New delivery date: {}", "fr": "Nouvelle date de livraison : {}"}
DATES = {
    "en": ("Friday, November 27", "Saturday, November 28"),
    "fr": ("vendredi 27 novembre", "samedi 28 novembre"),
}

STORM = """
start = "2026-11-24T13:00:00Z"   # 08:00 in New York
horizon = "+1h"

[[customers]]
id = "c-1"
name = "Ann Lee"
email = "ann@example.com"
phone = "+12015550123"
locale = "{locale}"
timezone = "America/New_York"
services = ["r"]
{orders}
"""
ORDER = """
[[events]]
at = "+0m"
order = {{ id = "{id}", status = "placed", customer = "c-1", promised_date = "2026-11-25" }}

[[events]]
at = "+{minute}m"
order = {{ id = "{id}", status = "delayed", promised_date = "{date}" }}
"""
OUTAGE = """
[[events]]
at = "+1m"
declare = { title = "Streaming outage", severity = "major", affects = ["r"] }
"""


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )


async def _run(tmp_path: Path, locale: str, count: int, extra: str = "") -> list[SimulatedMessage]:
    orders = "".join(
        ORDER.format(id=f"A-{100 + n}", minute=n % 2, date=f"2026-11-{27 + n % 2}")
        for n in range(count)
    )
    path = tmp_path / "storm.toml"
    path.write_text(STORM.format(locale=locale, orders=orders) + extra, "utf-8")
    return await simulate(_settings(tmp_path), load_scenario(path))


def _one(messages: list[SimulatedMessage], channel: str) -> SimulatedMessage:
    digests = [m for m in messages if m.channel == channel and m.template == "digest"]
    assert len(digests) == 1, [m.summary for m in messages]
    return digests[0]


@pytest.mark.parametrize("locale", ["en", "fr"])
async def test_each_delayed_order_keeps_its_new_date_in_the_text_digest(
    tmp_path: Path, locale: str
) -> None:
    sms = _one(await _run(tmp_path, locale, 3), "sms")
    items = re.split(r"^\d\) ", sms.text, flags=re.MULTILINE)[1:]
    assert len(items) == 3, sms.text
    told = set()
    for item in items:
        n = int(re.search(r"A-1(\d\d)", item).group(1))  # type: ignore[union-attr]
        told.add(n)
        assert NEW_DATE[locale].format(DATES[locale][n % 2]) in item, f"{item!r}: {sms.text}"
    assert told == {0, 1, 2}


@pytest.mark.parametrize("locale", ["en", "fr"])
async def test_a_long_text_digest_names_what_it_leaves_out(tmp_path: Path, locale: str) -> None:
    sms = _one(await _run(tmp_path, locale, 6), "sms")
    assert len(re.findall(r"^\d\) ", sms.text, flags=re.MULTILINE)) == 4
    assert "+2 " in sms.text and "https://" in sms.text


@pytest.mark.parametrize("locale", ["en", "fr"])
async def test_an_outage_leads_the_digest_it_is_folded_into(tmp_path: Path, locale: str) -> None:
    messages = await _run(tmp_path, locale, 1, OUTAGE)
    email = _one(messages, "email")
    assert email.summary.startswith("Streaming outage"), email.summary
    assert "A-100" not in email.summary
    sms = _one(messages, "sms")
    first = re.split(r"^\d\) ", sms.text, flags=re.MULTILINE)[1]
    assert "Streaming outage" in first and "A-100" not in first, sms.text
