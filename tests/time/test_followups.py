"""Follow-ups on a virtual clock: right count, right times, stop at resolution, survive restarts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from notifier.runtime.worker import Worker
from notifier.services import incidents
from notifier.store.schedules_table import schedules
from notifier.store.tables import outbox
from tests.harness import START, Harness, harness
from tests.time.rules_fixtures import DECLARED_AND_RESOLVED, STILL_WORKING, rules_dir

AFFECTED = 5  # customers of CUSTOMERS_CSV with satellite-radio and an email address
H = timedelta(hours=1)


async def _sent_times(h: Harness, template: str) -> list[datetime]:
    async with h.app.engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.sent_at).where(outbox.c.template == template, outbox.c.status == "sent")
        )
        return sorted({r[0] for r in rows})


async def _schedule_rows(h: Harness) -> list[tuple[str, datetime, str, str | None]]:
    async with h.app.engine.connect() as conn:
        rows = await conn.execute(
            select(
                schedules.c.name, schedules.c.due_at, schedules.c.status, schedules.c.reason
            ).order_by(schedules.c.id)
        )
        return [(r.name, r.due_at, r.status, r.reason) for r in rows]


async def _declare(h: Harness) -> int:
    incident = await incidents.declare(
        h.app.engine,
        title="Satellite radio signal outage",
        severity="major",
        affects=["satellite-radio"],
        now=h.clock.now(),
    )
    return incident.id


async def test_every_4h_while_open_13h_then_stops(db_url: str, tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, DECLARED_AND_RESOLVED, STILL_WORKING)
    async with harness(db_url, rules=rules) as h:
        await h.load_customers(tmp_path)
        incident_id = await _declare(h)
        await h.run_until(START + 13 * H)
        assert await _sent_times(h, "incident_still_working") == [
            START + 4 * H,
            START + 8 * H,
            START + 12 * H,
        ]
        await incidents.resolve(h.app.engine, incident_id, cause="fixed", now=h.clock.now())
        await h.run_until(START + 30 * H)
        assert len(await _sent_times(h, "incident_still_working")) == 3
        assert len(h.sink.messages) == AFFECTED * (1 + 3 + 1)
        *_, last = await _schedule_rows(h)
        assert last == (
            "still-working",
            START + 16 * H,
            "cancelled",
            f"incident {incident_id} is closed",
        )


async def test_a_follow_up_renders_the_state_when_it_fires(db_url: str, tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, DECLARED_AND_RESOLVED, STILL_WORKING)
    async with harness(db_url, rules=rules) as h:
        await h.load_customers(tmp_path)
        incident_id = await _declare(h)
        await h.run_until(START + 2 * H)
        await incidents.update(
            h.app.engine,
            incident_id,
            status="identified",
            message="Engineers found the fault.",
            workaround="Listen online meanwhile.",
            now=h.clock.now(),
        )
        await h.run_until(START + 5 * H)
        followup = h.sink.messages[-1].message.get_body(("plain",))
        assert followup is not None
        assert "Listen online meanwhile." in followup.get_content()


async def test_restart_between_follow_ups_sends_exactly_one_late(
    db_url: str, tmp_path: Path
) -> None:
    rules = rules_dir(tmp_path, DECLARED_AND_RESOLVED, STILL_WORKING)
    async with harness(db_url, rules=rules) as h:
        await h.load_customers(tmp_path)
        await _declare(h)
        first = Worker(h.app)
        await h.run_until(START + 4 * H + timedelta(minutes=1), worker=first)
        await first.close()  # the worker goes away; nobody runs while the 8h one falls due
        h.clock.set(START + 9 * H)
        await h.run_until(START + 9 * H)
        assert await _sent_times(h, "incident_still_working") == [START + 4 * H, START + 9 * H]
        await h.run_until(START + 12 * H)
        # The repeat keeps its rhythm: 12h, not 9h + 4h.
        assert (await _sent_times(h, "incident_still_working"))[-1] == START + 12 * H
        assert len(h.sink.messages) == AFFECTED * 4


async def test_a_follow_up_older_than_the_staleness_limit_is_skipped(
    db_url: str, tmp_path: Path
) -> None:
    rules = rules_dir(tmp_path, DECLARED_AND_RESOLVED, STILL_WORKING)
    async with harness(db_url, rules=rules, scheduler={"stale_after": "30m"}) as h:
        await h.load_customers(tmp_path)
        await _declare(h)
        await h.run_until(START + 4 * H)
        h.clock.set(START + 9 * H)  # down from 4h to 9h: the 8h follow-up is 1h late
        await h.run_until(START + 12 * H)
        assert await _sent_times(h, "incident_still_working") == [START + 4 * H, START + 12 * H]
        skipped = [row for row in await _schedule_rows(h) if row[2] == "skipped"]
        assert len(skipped) == 1
        name, due, _, reason = skipped[0]
        assert name == "still-working"
        assert due == START + 8 * H
        assert reason is not None and reason.startswith("stale:") and "1h00m late" in reason
