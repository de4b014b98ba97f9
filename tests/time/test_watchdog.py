"""The ETA watchdog and "next update by" promises, on a virtual clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.services import incidents
from notifier.store.schedules_table import schedules
from tests.harness import START, Harness, harness
from tests.time.rules_fixtures import PROMISED_UPDATE, WATCHDOG, rules_dir

H = timedelta(hours=1)
AFFECTED_EMAILS = 5


def _to(h: Harness, address: str) -> list[str]:
    return [str(m.message["Subject"]) for m in h.sink.messages if address in m.rcpt_tos]


def _customer_mail(h: Harness) -> int:
    return sum(1 for m in h.sink.messages if "ops@example.com" not in m.rcpt_tos)


async def _deadlines(h: Harness) -> list[tuple[str, str, str | None]]:
    async with h.app.engine.connect() as conn:
        rows = await conn.execute(
            select(schedules.c.name, schedules.c.status, schedules.c.reason).order_by(
                schedules.c.id
            )
        )
        return [(r.name, r.status, r.reason) for r in rows]


async def test_moving_the_eta_later_re_arms_the_watchdog(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url, rules=rules_dir(tmp_path, WATCHDOG)) as h:
        await h.load_customers(tmp_path)
        incident = await incidents.declare(
            h.app.engine,
            title="Signal outage",
            severity="major",
            affects=["satellite-radio"],
            eta=START + 6 * H,
            now=h.clock.now(),
        )
        await h.run_until(START + 2 * H)
        await incidents.update(
            h.app.engine,
            incident.id,
            eta=START + 10 * H,
            message="Longer than we thought.",
            now=h.clock.now(),
        )
        await h.run_until(START + 9 * H)
        assert _to(h, "ops@example.com") == []  # the 5h30 warning was moved, not sent
        await h.run_until(START + 9 * H + timedelta(minutes=31))
        assert len(_to(h, "ops@example.com")) == 1
        assert _customer_mail(h) == 0
        await h.run_until(START + 10 * H)
        assert _customer_mail(h) == AFFECTED_EMAILS  # eta_passed, told honestly
        states = await _deadlines(h)
        assert (
            "incident.eta_near",
            "cancelled",
            f"moved to {(START + 9 * H + timedelta(minutes=30)).isoformat()}",
        ) in states
        assert ("incident.eta_near", "done", None) in states
        assert ("incident.eta_passed", "done", None) in states


async def test_resolving_before_the_eta_means_no_warning(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url, rules=rules_dir(tmp_path, WATCHDOG)) as h:
        await h.load_customers(tmp_path)
        incident = await incidents.declare(
            h.app.engine,
            title="Signal outage",
            severity="major",
            affects=["satellite-radio"],
            eta=START + 6 * H,
            now=h.clock.now(),
        )
        await h.run_until(START + 3 * H)
        await incidents.resolve(h.app.engine, incident.id, cause="fixed", now=h.clock.now())
        await h.run_until(START + 24 * H)
        assert h.sink.messages == []
        assert {(name, status) for name, status, _ in await _deadlines(h)} == {
            ("incident.eta_near", "cancelled"),
            ("incident.eta_passed", "cancelled"),
        }


async def test_a_missed_next_update_sends_a_holding_message_and_alerts_operations(
    db_url: str, tmp_path: Path
) -> None:
    async with harness(db_url, rules=rules_dir(tmp_path, PROMISED_UPDATE)) as h:
        await h.load_customers(tmp_path)
        incident = await incidents.declare(
            h.app.engine,
            title="Signal outage",
            severity="major",
            affects=["satellite-radio"],
            now=h.clock.now(),
        )
        await h.run_until(START + 1 * H)
        await incidents.update(
            h.app.engine,
            incident.id,
            message="Still investigating.",
            next_update_by=START + 3 * H,
            now=h.clock.now(),
        )
        await h.run_until(START + 3 * H - timedelta(minutes=1))
        assert h.sink.messages == []
        await h.run_until(START + 3 * H)
        assert _customer_mail(h) == AFFECTED_EMAILS
        assert len(_to(h, "ops@example.com")) == 1
        async with h.app.engine.connect() as conn:
            sent_at = await conn.execute(select(schedules.c.updated_at, schedules.c.status))
            assert [(t, s) for t, s in sent_at] == [(START + 3 * H, "done")]


async def test_an_update_in_time_cancels_the_holding_message(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url, rules=rules_dir(tmp_path, PROMISED_UPDATE)) as h:
        await h.load_customers(tmp_path)
        incident = await incidents.declare(
            h.app.engine,
            title="Signal outage",
            severity="major",
            affects=["satellite-radio"],
            next_update_by=START + 2 * H,
            now=h.clock.now(),
        )
        await h.run_until(START + 1 * H)
        await incidents.update(
            h.app.engine, incident.id, message="Found it.", status="identified", now=h.clock.now()
        )
        await h.run_until(START + 8 * H)
        assert h.sink.messages == []
        assert await _deadlines(h) == [
            ("incident.update_overdue", "cancelled", "no longer applies")
        ]
