"""Peer faults through the whole path: outbox -> dispatcher -> channel -> peer -> timeline."""

from __future__ import annotations

from pathlib import Path

from notifier.services import incidents
from notifier.services.timeline import customer_timeline
from tests.harness import Harness, harness
from tests.time.rules_fixtures import rules_dir

EMAIL_ONLY = """
[[rule]]
name = "declared-email"
on = "incident.declared"
audience = "affected"
channels = ["email"]
template = "incident_declared"
"""
SMS_ONLY = EMAIL_ONLY.replace("declared-email", "declared-sms").replace('"email"]', '"sms"]')
ONE_CUSTOMER = """id,name,email,phone,locale,timezone,services
c-1,Ann Lee,ann@example.com,+12015550123,en,America/New_York,radio
"""
MANY = "id,name,email,phone,locale,timezone,services\n" + "".join(
    f"c-{i:03},Customer {i},c{i}@example.com,+1201555{i:04},en,UTC,radio\n" for i in range(40)
)


async def _declare_and_drain(h: Harness) -> None:
    await incidents.declare(
        h.app.engine, title="Outage", severity="major", affects=["radio"], now=h.clock.now()
    )
    await h.drain()


async def _entry(h: Harness, customer: str = "c-1") -> dict[str, object]:
    (entry,) = (await customer_timeline(h.app.engine, customer))["entries"]
    return entry


async def test_smtp_451_then_250_is_delivered_on_retry(tmp_path: Path) -> None:
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, EMAIL_ONLY)) as h:
        await h.load_customers(tmp_path, ONE_CUSTOMER)
        h.sink.script(["451 4.3.0 try again later", None])
        await _declare_and_drain(h)
        assert [m.rcpt_tos for m in h.sink.messages] == [("ann@example.com",)]
        entry = await _entry(h)
        # 451 is the relay asking to slow down: the wait spent no attempt of the message.
        assert (entry["status"], entry["attempts"]) == ("sent", 1)


async def test_smtp_550_fails_with_the_reason_and_is_not_retried(tmp_path: Path) -> None:
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, EMAIL_ONLY)) as h:
        await h.load_customers(tmp_path, ONE_CUSTOMER)
        h.sink.reject_recipient("ann@example.com", "550 5.1.1 no such user")
        await _declare_and_drain(h)
        entry = await _entry(h)
        assert (entry["status"], entry["attempts"]) == ("failed", 1)
        assert "550" in str(entry["reason"]) and "no such user" in str(entry["reason"])
        assert h.sink.messages == []


async def test_a_dropped_connection_mid_batch_loses_and_doubles_nothing(tmp_path: Path) -> None:
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, EMAIL_ONLY)) as h:
        await h.load_customers(tmp_path, MANY)
        h.sink.drop_connection_after(15)
        await _declare_and_drain(h)
        received = sorted(r for m in h.sink.messages for r in m.rcpt_tos)
        assert received == sorted(f"c{i}@example.com" for i in range(40))


async def test_twilio_429_then_201_is_sent_on_retry(tmp_path: Path) -> None:
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, SMS_ONLY)) as h:
        await h.load_customers(tmp_path, ONE_CUSTOMER)
        h.twilio.script([429, None])
        await _declare_and_drain(h)
        assert [m.to for m in h.twilio.messages] == ["+12015550123"]
        entry = await _entry(h)
        assert (entry["status"], entry["attempts"]) == ("sent", 1)  # 429: slow down, not counted
        assert str(entry["provider_id"]).startswith("SM")


async def test_twilio_21211_fails_with_the_code(tmp_path: Path) -> None:
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, SMS_ONLY)) as h:
        await h.load_customers(tmp_path, ONE_CUSTOMER)
        h.twilio.fail_number("+12015550123", code=21211)
        await _declare_and_drain(h)
        entry = await _entry(h)
        assert (entry["status"], entry["attempts"]) == ("failed", 1)
        assert "21211" in str(entry["reason"])


async def test_transient_failures_give_up_after_max_attempts(tmp_path: Path) -> None:
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, SMS_ONLY), max_attempts=3) as h:
        await h.load_customers(tmp_path, ONE_CUSTOMER)
        h.twilio.script([500, 500, 500, None])
        await _declare_and_drain(h)
        entry = await _entry(h)
        assert (entry["status"], entry["attempts"]) == ("failed", 3)
        assert str(entry["reason"]).startswith("gave up after 3 attempts")
        assert h.twilio.messages == []


async def test_a_provider_that_is_down_costs_the_message_no_attempt(tmp_path: Path) -> None:
    """503 means Twilio is down, not that the message is bad: more 503s than max_attempts
    and the message still goes, on its first counted attempt."""
    async with harness(_url(tmp_path), rules=rules_dir(tmp_path, SMS_ONLY), max_attempts=2) as h:
        await h.load_customers(tmp_path, ONE_CUSTOMER)
        h.twilio.script([503, 503, 503, 503, None])
        await _declare_and_drain(h)
        entry = await _entry(h)
        assert (entry["status"], entry["attempts"]) == ("sent", 1)
        assert [m.to for m in h.twilio.messages] == ["+12015550123"]


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}"
