"""Quiet hours, in each customer's own time zone, with and without the critical override."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from notifier.services import incidents
from notifier.services.timeline import customer_timeline
from tests.harness import START, harness
from tests.time.rules_fixtures import rules_dir

# START is 22:00 UTC on 1 March: 17:00 in New York, 23:00 in Paris.
PARIS_MORNING = START + timedelta(hours=9)  # 08:00 in Paris


def quiet_sms_rule(override: bool) -> str:
    return f"""
[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
template = "incident_declared"
quiet_hours = "21:00-08:00"
critical_overrides_quiet_hours = {"true" if override else "false"}
"""


async def test_sms_waits_for_the_end_of_each_customers_night(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url, rules=rules_dir(tmp_path, quiet_sms_rule(True))) as h:
        await h.load_customers(tmp_path)
        await incidents.declare(
            h.app.engine,
            title="Outage",
            severity="major",
            affects=["satellite-radio"],
            now=h.clock.now(),
        )
        await h.run_until(START + timedelta(minutes=5))
        assert [m.to for m in h.twilio.messages] == ["+12015550123"]  # New York: afternoon
        zoe = await customer_timeline(h.app.engine, "c-fr")
        (entry,) = zoe["entries"]
        assert entry["status"] == "deferred"
        assert entry["reason"] == "quiet hours 21:00-08:00 in Europe/Paris"
        assert entry["next_attempt_at"] == PARIS_MORNING
        await h.run_until(PARIS_MORNING - timedelta(minutes=1))
        assert len(h.twilio.messages) == 1
        await h.run_until(PARIS_MORNING)
        assert sorted(m.to for m in h.twilio.messages) == [
            "+12015550123",
            "+33612345678",
            "+33698765432",
        ]
        zoe = await customer_timeline(h.app.engine, "c-fr")
        assert zoe["entries"][0]["status"] == "sent"
        assert zoe["entries"][0]["sent_at"] == PARIS_MORNING


@pytest.mark.parametrize(("override", "sent_at_once"), [(True, 3), (False, 1)])
async def test_critical_incidents_may_override_quiet_hours(
    db_url: str, tmp_path: Path, override: bool, sent_at_once: int
) -> None:
    async with harness(db_url, rules=rules_dir(tmp_path, quiet_sms_rule(override))) as h:
        await h.load_customers(tmp_path)
        await incidents.declare(
            h.app.engine,
            title="Outage",
            severity="critical",
            affects=["satellite-radio"],
            now=h.clock.now(),
        )
        await h.run_until(START + timedelta(minutes=5))
        assert len(h.twilio.messages) == sent_at_once
