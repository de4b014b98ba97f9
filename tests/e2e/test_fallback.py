"""Channel fallback: when SMS fails for good, or cannot be tried, the message goes by email
once; when SMS works, the email copy is never sent."""

from __future__ import annotations

from pathlib import Path

from notifier.services import incidents
from notifier.services.timeline import customer_timeline
from tests.harness import Harness, harness
from tests.time.rules_fixtures import rules_dir

SMS_WITH_FALLBACK = """
[[rule]]
name = "declared-sms"
on = "incident.declared"
audience = "affected"
channels = ["sms"]
fallback_channel = "email"
template = "incident_declared"
"""
CUSTOMERS = """id,name,email,phone,locale,timezone,services
c-ok,Ann Lee,ann@example.com,+12015550123,en,America/New_York,radio
c-bad,Ben Cho,ben@example.com,+12015550124,en,America/New_York,radio
c-none,Cy Diaz,cy@example.com,,en,America/New_York,radio
"""


async def _statuses(h: Harness, customer: str) -> list[tuple[str, str]]:
    entries = (await customer_timeline(h.app.engine, customer))["entries"]
    return sorted((e["channel"], e["status"]) for e in entries)


async def test_fallback_goes_once_and_only_when_needed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fallback.db'}"
    async with harness(url, rules=rules_dir(tmp_path, SMS_WITH_FALLBACK)) as h:
        await h.load_customers(tmp_path, CUSTOMERS)
        h.twilio.fail_number("+12015550124", code=21211)
        await incidents.declare(
            h.app.engine, title="Signal outage", severity="major", affects=["radio"],
            now=h.clock.now(),
        )
        await h.drain()
        await h.drain()  # a second pass must not send another copy
        assert [m.to for m in h.twilio.messages] == ["+12015550123"]
        emailed = sorted(r for m in h.sink.messages for r in m.rcpt_tos)
        assert emailed == ["ben@example.com", "cy@example.com"]
        assert all("Signal outage" in str(m.message["Subject"]) for m in h.sink.messages)

        assert await _statuses(h, "c-ok") == [("email", "cancelled"), ("sms", "sent")]
        assert await _statuses(h, "c-bad") == [("email", "sent"), ("sms", "failed")]
        assert await _statuses(h, "c-none") == [("email", "sent"), ("sms", "suppressed")]
        ben = (await customer_timeline(h.app.engine, "c-bad"))["entries"]
        sms = next(e for e in ben if e["channel"] == "sms")
        assert "21211" in str(sms["reason"])  # the timeline shows why the email went
