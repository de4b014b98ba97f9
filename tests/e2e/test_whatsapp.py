"""WhatsApp end to end: rules plan it, the worker sends it through the real twilio client
to the stand-in with `whatsapp:` on both ends, and the timeline and the report show it;
no phone or an opt-out suppresses it and the email fallback goes; Twilio's 21610 opts the
customer out of WhatsApp only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notifier.services import incidents
from notifier.services.report import incident_report
from notifier.services.timeline import customer_timeline
from tests.harness import WHATSAPP_SENDER, Harness, harness
from tests.time.rules_fixtures import rules_dir

WHATSAPP_RULES = """
[[rule]]
name = "declared-whatsapp"
on = "incident.declared"
audience = "affected"
channels = ["whatsapp"]
fallback_channel = "email"
template = "incident_declared"

[[rule]]
name = "resolved-whatsapp"
on = "incident.resolved"
audience = "affected"
channels = ["whatsapp"]
template = "incident_resolved"
"""
CUSTOMERS = """id,name,email,phone,locale,timezone,services,opt_out
c-ok,Ann Lee,ann@example.com,+12015550123,en,America/New_York,radio,
c-fr,Zoé Martin,zoe@example.fr,+33612345678,fr,Europe/Paris,radio,sms
c-none,Cy Diaz,cy@example.com,,en,America/New_York,radio,
c-out,Dee Eng,dee@example.com,+12015550126,en,America/New_York,radio,whatsapp
c-stop,Eve Fox,eve@example.com,+12015550127,en,America/New_York,radio,
"""


async def _statuses(h: Harness, customer: str) -> list[tuple[str, str, str | None]]:
    entries = (await customer_timeline(h.app.engine, customer))["entries"]
    return sorted((e["channel"], e["status"], e["reason"]) for e in entries)


async def test_whatsapp_through_a_rule_reaches_twilio_and_the_timeline(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'whatsapp.db'}"
    async with harness(url, rules=rules_dir(tmp_path, WHATSAPP_RULES)) as h:
        await h.load_customers(tmp_path, CUSTOMERS)
        h.twilio.fail_number("whatsapp:+12015550127", code=21610)  # Eve blocked the sender
        incident = await incidents.declare(
            h.app.engine,
            title="Signal outage",
            severity="major",
            affects=["radio"],
            now=h.clock.now(),
            eta=h.clock.now() + timedelta(hours=3),
        )
        await h.drain()

        sent = {m.to: m for m in h.twilio.messages}
        assert sorted(sent) == ["whatsapp:+12015550123", "whatsapp:+33612345678"]
        assert {m.from_ for m in sent.values()} == {f"whatsapp:{WHATSAPP_SENDER}"}
        assert {m.channel for m in h.twilio.messages} == {"whatsapp"}  # no SMS rule, no SMS
        assert "Signal outage" in sent["whatsapp:+12015550123"].body
        assert "Nous y travaillons" in sent["whatsapp:+33612345678"].body  # her language
        # Zoé declined SMS, not WhatsApp: an opt-out is per channel.
        emailed = sorted(r for m in h.sink.messages for r in m.rcpt_tos)
        assert emailed == ["cy@example.com", "dee@example.com", "eve@example.com"]

        assert await _statuses(h, "c-ok") == [
            ("email", "cancelled", "not needed: the primary was sent"),
            ("whatsapp", "sent", None),
        ]
        ok = (await customer_timeline(h.app.engine, "c-ok"))["entries"]
        whatsapp = next(e for e in ok if e["channel"] == "whatsapp")
        assert whatsapp["recipient"] == "+12015550123"
        assert "Signal outage" in whatsapp["summary"]
        assert (await _statuses(h, "c-none"))[1] == ("whatsapp", "suppressed", "no phone number")
        assert (await _statuses(h, "c-out"))[1] == (
            "whatsapp",
            "suppressed",
            "opted out of whatsapp",
        )
        eve = await _statuses(h, "c-stop")
        assert eve[0][:2] == ("email", "sent") and eve[1][:2] == ("whatsapp", "failed")
        assert "21610" in str(eve[1][2])

        # Resolved: Eve's provider opt-out holds for WhatsApp; the others hear it is fixed.
        h.twilio.reset()
        h.clock.advance(timedelta(hours=2))
        await incidents.resolve(
            h.app.engine, incident.id, now=h.clock.now(), cause="A storm", message="Back on."
        )
        await h.drain()
        assert sorted(m.to for m in h.twilio.messages) == [
            "whatsapp:+12015550123",
            "whatsapp:+33612345678",
        ]
        assert all("Back on." in m.body for m in h.twilio.messages)
        assert ("whatsapp", "suppressed", "opted out of whatsapp") in await _statuses(h, "c-stop")

        report = await incident_report(h.app.engine, incident.id, now=h.clock.now())
        stats = report["channels"]["whatsapp"]
        assert (stats["sent"], stats["failed"]) == (4, 1)
        assert stats["suppressed_by_reason"] == {
            "no phone number": 2,
            "opted out of whatsapp": 3,
        }
        assert report["channels"]["email"]["sent"] == 3
        assert report["channels"]["sms"]["planned"] == 0
