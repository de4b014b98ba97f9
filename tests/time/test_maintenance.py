"""Planned maintenance on a virtual clock, with the shipped rules and templates: notice 72 h
and 1 h before, the start on time (by the scheduler), an overrun told like a missed ETA
(email and SMS, preferences respected), the end; a cancellation; the transition table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.domain.maintenance import MaintenanceStatus
from notifier.errors import InputError, InvalidTransition
from notifier.services import maintenance, service_catalog
from notifier.store.schedules_table import schedules
from tests.harness import START, Harness, harness

H = timedelta(hours=1)
# Mar 6, 14:00-16:00 UTC: daytime for every sample customer (New York to Paris), so no
# quiet hours hold the overrun SMS.
STARTS = START.replace(day=6, hour=14)
ENDS = STARTS + 2 * H
AFFECTED = 5  # customers of satellite-radio with an email address
TEXTED = 3  # ... with a phone and SMS not declined


def _subjects(h: Harness) -> list[str]:
    return [str(m.message["Subject"]) for m in h.sink.messages]


def _count(h: Harness, words: tuple[str, str]) -> int:
    return sum(1 for s in _subjects(h) if s.startswith(words))


async def _schedule(h: Harness) -> int:
    found = await maintenance.schedule(
        h.app.engine,
        services=["satellite-radio"],
        starts=STARTS,
        ends=ENDS,
        title="Uplink upgrade",
        message="Radios may go silent.",
        now=h.clock.now(),
    )
    assert found.status is MaintenanceStatus.SCHEDULED
    return found.id


async def test_notices_start_overrun_and_end(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        maintenance_id = await _schedule(h)
        await h.run_until(STARTS - 72 * H - timedelta(minutes=1))
        assert h.sink.messages == []  # nothing until the first notice
        await h.run_until(STARTS - 72 * H)
        notices = ("Planned maintenance: Uplink upgrade", "Maintenance prévue : Uplink upgrade")
        assert _count(h, notices) == AFFECTED
        await h.run_until(STARTS - H)
        assert _count(h, notices) == 2 * AFFECTED
        await h.run_until(STARTS)
        started = ("Maintenance started", "Maintenance commencée")
        assert _count(h, started) == AFFECTED
        view = await maintenance.show(h.app.engine, maintenance_id)
        assert view.maintenance.status is MaintenanceStatus.IN_PROGRESS
        assert view.maintenance.started_at == STARTS
        assert h.twilio.messages == []

        await h.run_until(ENDS)
        assert _count(h, ("Taking longer than we said", "Plus long que prévu")) == AFFECTED
        texts = [m.body for m in h.twilio.messages]
        assert len(texts) == TEXTED and all("Uplink upgrade" in t for t in texts)

        await maintenance.complete(
            h.app.engine, maintenance_id, message="All done.", now=h.clock.now()
        )
        await h.run_until(ENDS + H)
        assert _count(h, ("Maintenance over", "Maintenance terminée")) == AFFECTED
        assert len(h.sink.messages) == 5 * AFFECTED  # nothing else, nothing twice


async def test_a_cancelled_maintenance_is_told_and_its_notices_dropped(
    db_url: str, tmp_path: Path
) -> None:
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        maintenance_id = await _schedule(h)
        await h.run_until(START + H)  # planned: the notices and the start are armed
        await maintenance.cancel(h.app.engine, maintenance_id, now=h.clock.now())
        await h.run_until(ENDS + H)
        assert _subjects(h) and set(_subjects(h)) <= {
            "Maintenance cancelled: Uplink upgrade",
            "Maintenance annulée : Uplink upgrade",
        }
        assert len(h.sink.messages) == AFFECTED
        async with h.app.engine.connect() as conn:
            rows = (await conn.execute(select(schedules.c.name, schedules.c.status))).all()
        assert sorted(r.name for r in rows) == [
            "maintenance.notice_1h",
            "maintenance.notice_72h",
            "maintenance.started",
        ]
        assert {r.status for r in rows} == {"cancelled"}


async def test_moving_the_end_later_moves_the_overrun_watch(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url) as h:
        await h.load_customers(tmp_path)
        maintenance_id = await _schedule(h)
        await h.run_until(STARTS)
        await maintenance.update(
            h.app.engine,
            maintenance_id,
            message="One more hour.",
            ends=ENDS + H,
            now=h.clock.now(),
        )
        await h.run_until(ENDS + 30 * timedelta(minutes=1))
        overran = ("Taking longer than we said", "Plus long que prévu")
        assert _count(h, overran) == 0
        await h.run_until(ENDS + H)
        assert _count(h, overran) == AFFECTED


async def test_the_transition_table_and_bad_input(db_url: str, tmp_path: Path) -> None:
    async with harness(db_url) as h:
        now = h.clock.now()
        engine = h.app.engine
        maintenance_id = await _schedule(h)
        with pytest.raises(InvalidTransition, match="scheduled"):
            await maintenance.complete(engine, maintenance_id, now=now)
        await maintenance.start(engine, maintenance_id, now=now)
        with pytest.raises(InvalidTransition):
            await maintenance.cancel(engine, maintenance_id, now=now)
        with pytest.raises(InvalidTransition):
            await maintenance.start(engine, maintenance_id, now=now)
        await maintenance.complete(engine, maintenance_id, now=now)
        with pytest.raises(InputError, match="is completed"):
            await maintenance.update(engine, maintenance_id, message="x", now=now)

        cases = [
            ({"starts": now - H}, "starts: .* is not in the future"),
            ({"ends": STARTS - H}, "ends: .* is not after the start"),
            ({"ends": STARTS + timedelta(days=15)}, "ends: a window is at most 14 days"),
            ({"services": []}, "services: name at least one service"),
            ({"services": ["a b"]}, "services: 'a b' is not a service key"),
            ({"message": " "}, "message: must not be empty"),
        ]
        for change, message in cases:
            fields: dict[str, object] = {
                "services": ["satellite-radio"],
                "starts": STARTS,
                "ends": ENDS,
                "message": "m",
            } | change
            with pytest.raises(InputError, match=message):
                await maintenance.schedule(engine, now=now, **fields)  # type: ignore[arg-type]
        await service_catalog.add(engine, key="satellite-radio", name="Radio", now=now)
        with pytest.raises(InputError, match="affects: 'tv' is not a service"):
            await maintenance.schedule(
                engine, services=["tv"], starts=STARTS, ends=ENDS, message="m", now=now
            )
