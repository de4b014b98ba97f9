"""The tick fires different subjects side by side and one subject's schedules in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.clock import VirtualClock
from notifier.config import Settings
from notifier.engine.fanout import PlanStats
from notifier.engine.timers import Timers
from notifier.store import schedules as schedule_store
from tests.waiting import GENEROUS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class RecordingFollowups:
    """Stands in for the fan-out: notes when each firing starts and ends. With `together`,
    the first firings wait until that many run at once (a barrier): firings that ran one at
    a time would never get there, and the wait's deadline would fail the test."""

    def __init__(self, fail_subject: str | None = None, *, together: int = 0) -> None:
        self.log: list[tuple[str, str, int]] = []  # (event, subject, schedule id)
        self.running = 0
        self.most_at_once = 0
        self._fail = fail_subject
        self._together = together
        self._all_in = asyncio.Event()

    async def fire(self, schedule: schedule_store.Schedule) -> PlanStats:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.log.append(("start", schedule.subject_id, schedule.id))
        try:
            if self.running >= self._together:
                self._all_in.set()
            # A firing takes at least a turn of the loop, as a database round trip does.
            await asyncio.wait_for(self._all_in.wait(), GENEROUS)
            if schedule.subject_id == self._fail:
                raise RuntimeError("boom")
        finally:
            self.running -= 1
            self.log.append(("end", schedule.subject_id, schedule.id))
        return PlanStats(planned=1)


async def _schedules(engine: AsyncEngine, subjects: dict[str, int]) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    async with engine.begin() as conn:
        for subject, count in subjects.items():
            for n in range(count):
                ids.setdefault(subject, []).append(
                    await schedule_store.create(
                        conn,
                        kind="followup",
                        name=f"r{n}",
                        subject_type="incident",
                        subject_id=subject,
                        due_at=NOW - timedelta(seconds=count - n),
                        now=NOW,
                    )
                )
    return ids


def _timers(engine: AsyncEngine, followups: Any) -> Timers:
    return Timers(
        engine,
        followups=followups,
        settings=Settings(),
        clock=VirtualClock(NOW),
        worker_id="w",
    )


async def test_subjects_fire_side_by_side_each_in_due_order(engine: AsyncEngine) -> None:
    ids = await _schedules(engine, {"1": 3, "2": 3, "3": 3, "4": 3})
    followups = RecordingFollowups(together=4)

    stats = await _timers(engine, followups).fire_due()

    assert stats.events == 12 and stats.planned == 12
    assert followups.most_at_once == 4  # one per subject, not one at a time
    for subject, expected in ids.items():
        starts = [i for event, s, i in followups.log if event == "start" and s == subject]
        assert starts == expected  # due order within a subject
        # ...and never two of the same subject at once
        events = [e for e, s, _ in followups.log if s == subject]
        assert events == ["start", "end"] * 3


async def test_a_failing_subject_does_not_stop_the_others(engine: AsyncEngine) -> None:
    await _schedules(engine, {"1": 1, "2": 2, "3": 1})
    followups = RecordingFollowups(fail_subject="2")

    with pytest.raises(RuntimeError, match="boom"):
        await _timers(engine, followups).fire_due()

    ended = {s for e, s, _ in followups.log if e == "end"}
    assert ended == {"1", "2", "3"}  # subjects 1 and 3 finished their work
    # Subject 2 stopped at its first failure; its second schedule stays claimed (fired
    # again after the lease), not skipped.
    assert sum(1 for e, s, _ in followups.log if e == "start" and s == "2") == 1
