"""The tick: claim schedules that are due and fire them (deadlines raise events,
follow-ups fan out). Cost follows what is due: claims read the (status, due_at) index."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.engine import deadlines
from notifier.engine.claims import hold_failed, renewing
from notifier.engine.context import load_subject
from notifier.engine.fanout import PlanStats
from notifier.engine.followups import Followups
from notifier.engine.side_by_side import side_by_side
from notifier.store import schedules as schedule_store

_FIRE_AT_ONCE = 8  # subjects fired side by side


class Timers:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        followups: Followups,
        settings: Settings,
        clock: Clock,
        worker_id: str,
    ) -> None:
        self._engine = engine
        self._followups = followups
        self._settings = settings
        self._clock = clock
        self._worker = worker_id
        self._lease = timedelta(seconds=settings.scheduler.planning_lease)
        self._retry_after = timedelta(seconds=settings.delivery.lease_seconds)

    async def fire_due(self, limit: int = 50) -> PlanStats:
        """Fire what is due. Subjects fire side by side (a firing mostly waits for the
        database; one after the other, a busy minute would fall behind); one subject's
        schedules fire in due order, as its customers should hear them."""
        async with self._engine.begin() as conn:
            due = await schedule_store.claim_due(
                conn, worker=self._worker, now=self._clock.now(), lease=self._lease, limit=limit
            )
        by_subject: dict[tuple[str, str], list[schedule_store.Schedule]] = {}
        for schedule in due:
            by_subject.setdefault((schedule.subject_type, schedule.subject_id), []).append(schedule)
        stats = PlanStats()
        firing = {schedule.id for schedule in due}

        async def fire_in_order(schedules: list[schedule_store.Schedule]) -> None:
            for n, schedule in enumerate(schedules):
                try:
                    if schedule.kind == deadlines.KIND:
                        await self._deadline(schedule)
                    else:
                        stats.add(await self._followups.fire(schedule))
                except Exception:
                    # The subject's schedules stay claimed and fire again after the longer
                    # delivery lease (a failure that is not an outage would recur at once).
                    for later in schedules[n:]:
                        firing.discard(later.id)
                        await hold_failed(
                            self._engine,
                            self._renew,
                            later.id,
                            self._clock.now() + self._retry_after,
                        )
                    raise
                finally:
                    firing.discard(schedule.id)
                stats.events += 1

        if not due:
            return stats
        async with renewing(
            self._engine,
            firing,
            self._renew,
            every=self._lease.total_seconds() / 4,
            until=lambda: self._clock.now() + self._lease,
            what="schedules being fired",
        ):
            await side_by_side(
                (partial(fire_in_order, group) for group in by_subject.values()),
                at_once=_FIRE_AT_ONCE,
            )
        return stats

    async def _renew(self, conn: AsyncConnection, ids: list[int], until: datetime) -> set[int]:
        return await schedule_store.renew_claims(conn, worker=self._worker, ids=ids, until=until)

    async def _deadline(self, schedule: schedule_store.Schedule) -> None:
        now = self._clock.now()
        async with self._engine.begin() as conn:
            subject = await load_subject(conn, schedule.subject_type, schedule.subject_id)
            late = now - schedule.due_at
            if late > self._settings.scheduler.stale_after:
                await schedule_store.finish(
                    conn,
                    schedule.id,
                    status=schedule_store.SKIPPED,
                    now=now,
                    reason=f"stale: due {schedule.due_at.isoformat()}, noticed {late} late",
                )
                return
            wanted = deadlines.deadlines_for(
                subject,
                eta_margin=self._settings.scheduler.eta_near_margin,
                at_risk_margin=self._settings.scheduler.order_at_risk_margin,
            )
            await deadlines.fire(conn, schedule, wanted=wanted, now=now)
