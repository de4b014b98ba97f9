"""The XM story end to end: every message crosses real SMTP and the real twilio client."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from notifier.services import incidents
from notifier.services.timeline import customer_timeline
from notifier.store.tables import events, outbox
from tests.harness import harness

AFFECTED_EMAIL = {
    "ann@example.com": "en",
    "zoe@example.fr": "fr",
    "elodie@example.fr": "fr",
    "ben@example.com": "en",
    "cara@example.com": "en",
}
AFFECTED_SMS = {"+12015550123", "+33612345678", "+33698765432"}


async def test_the_xm_story(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        declared = h.clock.now()
        incident = await incidents.declare(
            h.app.engine,
            title="Satellite radio signal outage",
            severity="major",
            affects=["satellite-radio"],
            eta=declared + timedelta(hours=18),
            message="Your radio is not broken.",
            now=declared,
        )
        await h.drain()
        first = list(h.sink.messages)
        assert Counter(r for m in first for r in m.rcpt_tos) == Counter(AFFECTED_EMAIL.keys())
        assert {m.to for m in h.twilio.messages} == AFFECTED_SMS
        assert len(h.twilio.messages) == len(AFFECTED_SMS)
        for mail in first:
            (rcpt,) = mail.rcpt_tos
            subject = str(mail.message["Subject"])
            assert "Satellite radio signal outage" in subject
            body = mail.message.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            if AFFECTED_EMAIL[rcpt] == "fr":
                assert "Zoé" in text or "Élodie" in text
            else:
                assert mail.message.get_body(("html",)) is not None
        french_sms = [m.body for m in h.twilio.messages if m.to.startswith("+33")]
        english_sms = [m.body for m in h.twilio.messages if m.to.startswith("+1")]
        assert french_sms and english_sms and set(french_sms).isdisjoint(english_sms)

        # The next morning: the ETA slips and there is a workaround.
        h.clock.advance(timedelta(hours=10))
        await incidents.update(
            h.app.engine,
            incident.id,
            status="identified",
            eta=declared + timedelta(hours=25),
            workaround="Online streaming works for every station.",
            message="The repair will take 6 to 8 hours longer.",
            now=h.clock.now(),
        )
        await h.drain()
        second = h.sink.messages[len(first) :]
        assert sorted(r for m in second for r in m.rcpt_tos) == sorted(AFFECTED_EMAIL)
        assert all(
            "Online streaming works" in (m.message.get_body(("plain",)) or m.message).get_content()
            for m in second
        )

        h.clock.advance(timedelta(hours=6))
        await incidents.resolve(
            h.app.engine,
            incident.id,
            cause="A faulty software update",
            message="Leave your radio on outdoors for 5 minutes.",
            now=h.clock.now(),
        )
        await h.drain()
        assert len(h.sink.messages) == 3 * len(AFFECTED_EMAIL)
        assert len(h.twilio.messages) == 3 * len(AFFECTED_SMS)
        last = h.sink.messages[-1].message.get_body(("plain",))
        assert last is not None and "faulty software update" in last.get_content()

        # Nobody unaffected heard anything; exactly one message per key.
        assert "dan@example.com" not in {r for m in h.sink.messages for r in m.rcpt_tos}
        assert "+12015550125" not in {m.to for m in h.twilio.messages}
        ids = [m.message["Message-ID"] for m in h.sink.messages]
        assert len(ids) == len(set(ids))

        # The timelines tell the same story, with the reasons for what was not sent.
        ben = await customer_timeline(h.app.engine, "c-nosms")
        assert [(e["channel"], e["status"]) for e in ben["entries"]].count(
            ("sms", "suppressed")
        ) == 3
        assert {e["reason"] for e in ben["entries"] if e["channel"] == "sms"} == {
            "opted out of sms"
        }
        cara = await customer_timeline(h.app.engine, "c-nophone")
        assert {e["reason"] for e in cara["entries"] if e["channel"] == "sms"} == {
            "no phone number"
        }
        dan = await customer_timeline(h.app.engine, "c-other")
        assert dan["entries"] == []
        ann = await customer_timeline(h.app.engine, "c-en")
        assert [e["status"] for e in ann["entries"]] == ["sent"] * 6
        assert [e["template"] for e in ann["entries"] if e["channel"] == "email"] == [
            "incident_declared",
            "incident_updated",
            "incident_resolved",
        ]


async def test_planning_an_event_again_sends_nothing_twice(db_url: str, tmp_path: Path) -> None:
    """A worker that died after planning but before marking the event replans it safely."""
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        await incidents.declare(
            h.app.engine,
            title="Outage",
            severity="major",
            affects=["satellite-radio"],
            now=h.clock.now(),
        )
        await h.drain()
        async with h.app.engine.begin() as conn:
            rows_before = len((await conn.execute(select(outbox.c.id))).all())
            await conn.execute(update(events).values(planned_at=None))
        await h.drain()
        async with h.app.engine.connect() as conn:
            assert len((await conn.execute(select(outbox.c.id))).all()) == rows_before
        assert len(h.sink.messages) == len(AFFECTED_EMAIL)
        assert len(h.twilio.messages) == len(AFFECTED_SMS)
