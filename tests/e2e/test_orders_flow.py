"""Orders through the engine: each transition's rule fires once, the promise watchdog speaks
at the right times (never for a delivered order), and one customer hears one voice."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.services.orders import record_order_event
from notifier.services.timeline import customer_timeline
from notifier.store.schedules_table import schedules
from tests.harness import START, Harness, harness

CUSTOMERS = """id,name,email,phone,locale,timezone,services
c-ny,Ann Lee,ann@example.com,+12015550123,en,America/New_York,shop
c-fr,Zoé Martin,zoe@example.fr,+33612345678,fr,Europe/Paris,shop
"""
H = timedelta(hours=1)
# START is 2026-03-01 22:00 UTC; promised for 3 March, the promise ends at midnight local.
PROMISED = date(2026, 3, 3)
NY_PROMISE_ENDS = START + timedelta(days=2, hours=7)  # 2026-03-04 05:00 UTC


def _templates(h: Harness, address: str) -> list[str]:
    return [str(m.message["Subject"]) for m in h.sink.messages if address in m.rcpt_tos]


async def _event(h: Harness, order: str, status: str, **kw: object) -> None:
    await record_order_event(h.app.engine, order, status=status, now=h.clock.now(), **kw)  # type: ignore[arg-type]


async def test_each_transition_speaks_once_and_repeats_are_ignored(
    db_url: str, tmp_path: Path
) -> None:
    async with harness(db_url, grouping={"window": "0s"}) as h:
        await h.load_customers(tmp_path, CUSTOMERS)
        await _event(h, "A-1", "placed", customer_id="c-ny", promised_date=PROMISED)
        await _event(h, "A-1", "shipped", carrier="UPS", tracking="1Z999")
        await _event(h, "A-1", "shipped", carrier="UPS", tracking="1Z999")  # source resends
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        assert len(_templates(h, "ann@example.com")) == 1  # the shipped email, once
        h.clock.advance(14 * H)  # 12:00 in New York
        await _event(h, "A-1", "out_for_delivery")
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        assert [m.to for m in h.twilio.messages] == ["+12015550123"]
        await _event(h, "A-1", "delivered")
        await h.run_until(START + 5 * 24 * H)
        # Delivered before the promise ended: no at-risk, no late message, ever.
        assert len(_templates(h, "ann@example.com")) == 1
        async with h.app.engine.connect() as conn:
            rows = (await conn.execute(select(schedules.c.name, schedules.c.status))).all()
        assert {(r.name, r.status) for r in rows} <= {
            ("order.at_risk", "cancelled"),
            ("order.late", "cancelled"),
        }


async def test_the_promise_watchdog_warns_then_apologises(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url, grouping={"window": "0s"}) as h:
        await h.load_customers(tmp_path, CUSTOMERS)
        await _event(h, "B-1", "placed", customer_id="c-ny", promised_date=PROMISED)
        at_risk = NY_PROMISE_ENDS - timedelta(days=1)  # scheduler.order_at_risk_margin
        await h.run_until(at_risk - timedelta(minutes=1))
        assert _templates(h, "ann@example.com") == []
        await h.run_until(at_risk)
        assert len(_templates(h, "ann@example.com")) == 1  # at risk: not shipped yet
        await h.run_until(NY_PROMISE_ENDS - timedelta(minutes=1))
        assert len(_templates(h, "ann@example.com")) == 1
        await h.run_until(NY_PROMISE_ENDS)
        assert len(_templates(h, "ann@example.com")) == 2  # late
        timeline = await customer_timeline(h.app.engine, "c-ny")
        assert [e["template"] for e in timeline["entries"]] == ["order_at_risk", "order_late"]


async def test_three_orders_delayed_together_make_one_message(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url) as h:  # the default grouping window: 2 minutes
        await h.load_customers(tmp_path, CUSTOMERS)
        h.clock.advance(15 * H)  # 13:00 in New York: no quiet hours in the way
        for order in ("C-1", "C-2", "C-3"):
            await _event(h, order, "placed", customer_id="c-ny", promised_date=PROMISED)
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        h.sink.messages.clear()
        h.twilio.messages.clear()
        for order in ("C-1", "C-2", "C-3"):
            await _event(h, order, "delayed", promised_date=date(2026, 3, 6), note="Storm")
            h.clock.advance(timedelta(seconds=20))
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        (mail,) = h.sink.messages
        # The subject names the first delay, and says how many more there are.
        assert str(mail.message["Subject"]) == "Your order C-1 is delayed (+2 more)"
        body = mail.message.get_body(("plain",))
        assert body is not None and all(o in body.get_content() for o in ("C-1", "C-2", "C-3"))
        (sms,) = h.twilio.messages
        assert sms.body.startswith("Example Co: 3 updates")
        timeline = await customer_timeline(h.app.engine, "c-ny")
        grouped = [e for e in timeline["entries"] if e["status"] == "grouped"]
        assert len(grouped) == 6 and all("sent together in message" in e["reason"] for e in grouped)


async def test_an_order_delay_and_an_outage_together_make_one_message(
    db_url: str, tmp_path: Path
) -> None:
    from notifier.services import incidents

    async with harness(db_url) as h:
        await h.load_customers(tmp_path, CUSTOMERS)
        h.clock.advance(15 * H)  # 13:00 in New York
        await _event(h, "D-1", "placed", customer_id="c-ny", promised_date=PROMISED)
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        h.sink.messages.clear()
        await _event(h, "D-1", "delayed", promised_date=date(2026, 3, 6))
        h.clock.advance(timedelta(seconds=30))  # inside the grouping window
        await incidents.declare(
            h.app.engine,
            title="Checkout outage",
            severity="major",
            affects=["shop"],
            now=h.clock.now(),
        )
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        to_ann = [m for m in h.sink.messages if "ann@example.com" in m.rcpt_tos]
        (mail,) = to_ann  # one voice: the outage and the delay in one email
        body = mail.message.get_body(("plain",))
        assert body is not None
        assert "Checkout outage" in body.get_content() and "D-1" in body.get_content()


async def test_a_critical_outage_is_not_held_for_a_group(db_url: str, tmp_path: Path) -> None:
    from notifier.services import incidents

    async with harness(db_url) as h:
        await h.load_customers(tmp_path, CUSTOMERS)
        h.clock.advance(15 * H)
        await _event(h, "E-1", "placed", customer_id="c-ny", promised_date=PROMISED)
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        h.sink.messages.clear()
        await _event(h, "E-1", "delayed", promised_date=date(2026, 3, 6))
        await incidents.declare(
            h.app.engine,
            title="Checkout outage",
            severity="critical",
            affects=["shop"],
            now=h.clock.now(),
        )
        await h.run_until(h.clock.now() + timedelta(seconds=10))
        subjects = _templates(h, "ann@example.com")
        assert len(subjects) == 1 and "Checkout outage" in subjects[0]  # at once, alone
        await h.run_until(h.clock.now() + timedelta(minutes=5))
        assert len(_templates(h, "ann@example.com")) == 2  # the delay follows after its window
