"""Apply the rules to an event: who is told what, on which channel, now or later.

Immediate messages fan out at once (in pages, idempotent by key). Then, in one transaction
with marking the event planned: follow-up rules are armed, pending follow-ups that should
stop are cancelled, and the subject's deadlines are brought in line with its new state. A
crash anywhere before that commit means the event is planned again, completing what was
missing without doubling what was there.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.events import Event
from notifier.domain.messages import ChannelName
from notifier.engine import deadlines
from notifier.engine.claims import hold_failed, renewing
from notifier.engine.context import base_context, load_subject
from notifier.engine.fanout import FanOut, PlanStats
from notifier.engine.followups import Followups, is_followup
from notifier.engine.occasions import Occasion
from notifier.engine.rules import LiveRules, Rule
from notifier.engine.side_by_side import side_by_side
from notifier.errors import RuleError
from notifier.outbox import reports as report_store
from notifier.store import events as event_store
from notifier.store import schedules as schedule_store
from notifier.store.db import reads

log = logging.getLogger(__name__)

# Events planned side by side. SQLite has one writer at a time: two overlap one's reading and
# rendering with the other's writing, and more only queue for the lock (measured with the
# load test at 90 events/s: request p95 320 ms with 2, 450 ms with 8).
_PLAN_AT_ONCE = {"postgresql": 8, "sqlite": 2}
RESOLVED = "incident.resolved"
OPERATIONS = "operations"


class Planner:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        rules: LiveRules,
        fanout: FanOut,
        followups: Followups,
        settings: Settings,
        clock: Clock,
        worker_id: str,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._fanout = fanout
        self._followups = followups
        self._settings = settings
        self._clock = clock
        self._worker = worker_id
        self._lease = timedelta(seconds=settings.scheduler.planning_lease)
        self._retry_after = timedelta(seconds=settings.delivery.lease_seconds)

    async def plan_pending(self, limit: int = 20) -> PlanStats:
        """Claim events not yet planned and plan them side by side.

        A claim holds at most one event per subject (the oldest not planned), so the events
        planned together are about different subjects, and each subject's events are still
        planned in order, one claim after the other.
        """
        stats = PlanStats()
        async with reads(self._engine) as conn:
            if not await event_store.any_unplanned(conn, now=self._clock.now()):
                return stats  # the common answer on each wake-up: no write transaction
        async with self._engine.begin() as conn:
            claimed = await event_store.claim_unplanned(
                conn, worker=self._worker, now=self._clock.now(), lease=self._lease, limit=limit
            )
        if not claimed:
            return stats
        planning = {event.id for event in claimed}
        async with renewing(
            self._engine,
            planning,
            self._renew,
            every=self._lease.total_seconds() / 4,
            until=lambda: self._clock.now() + self._lease,
            what="events being planned",
        ):
            await side_by_side(
                (partial(self._plan_claimed, event, stats, planning) for event in claimed),
                at_once=_PLAN_AT_ONCE.get(self._engine.dialect.name, 2),
            )
        return stats

    async def _renew(self, conn: AsyncConnection, ids: list[int], until: datetime) -> set[int]:
        return await event_store.renew_claims(conn, worker=self._worker, ids=ids, until=until)

    async def _plan_claimed(self, event: Event, stats: PlanStats, planning: set[int]) -> None:
        try:
            await self.plan(event, stats)
        except Exception:
            planning.discard(event.id)
            await hold_failed(
                self._engine, self._renew, event.id, self._clock.now() + self._retry_after
            )
            raise
        finally:
            planning.discard(event.id)

    async def plan(self, event: Event, stats: PlanStats | None = None) -> PlanStats:
        stats = stats or PlanStats()
        update_id = event.payload.get("update_id")
        async with reads(self._engine) as conn:
            subject = await load_subject(
                conn,
                event.subject_type,
                event.subject_id,
                update_id=int(update_id) if update_id is not None else None,
            )
        context = base_context(subject, event.as_context(), self._settings, self._clock)
        matched = self._matching(event, context)
        if subject.type == "incident" and not subject.is_open and event.kind != RESOLVED:
            # Raised before the resolution was planned (a deadline at the same instant, an
            # update a moment before): the resolution is the last word, nothing after it.
            matched = []
        occasion = Occasion(
            key_prefix=f"e{event.id}",
            event_id=event.id,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
        )
        # One pass over the audience for all the immediate rules: email and SMS together.
        immediate = [rule for rule in matched if not is_followup(rule)]
        customers = [rule for rule in immediate if rule.audience != OPERATIONS]
        await self._fanout.run_rules(occasion, customers, context, stats)
        operations = [rule for rule in immediate if rule.audience == OPERATIONS]
        if operations:
            # The alert reports what customers were actually told, so it is planned after
            # their messages, with the counts of what those became (sent, held, not sent).
            async with reads(self._engine) as conn:
                told = await report_store.told_for_event(
                    conn, event.id, [c.value for c in ChannelName]
                )
            await self._fanout.run_rules(occasion, operations, {**context, "told": told}, stats)
        now = self._clock.now()
        async with self._engine.begin() as conn:
            # The subject's pending schedules, read once for the three steps below (and
            # again only if arming added some: review must see those too).
            pending = await schedule_store.pending_for_subject(conn, subject.type, subject.id)
            armed = await self._followups.arm(
                conn, event, [r for r in matched if is_followup(r)], pending
            )
            if armed:
                pending = await schedule_store.pending_for_subject(conn, subject.type, subject.id)
            await self._followups.review(conn, subject, context, pending)
            await deadlines.sync(
                conn,
                subject_type=subject.type,
                subject_id=subject.id,
                wanted=deadlines.deadlines_for(
                    subject,
                    eta_margin=self._settings.scheduler.eta_near_margin,
                    at_risk_margin=self._settings.scheduler.order_at_risk_margin,
                ),
                now=now,
                event_id=event.id,
                closed=not subject.is_open,
                pending=pending,
            )
            await event_store.mark_planned(conn, event.id, now)
        stats.events += 1
        return stats

    def _matching(self, event: Event, context: dict[str, Any]) -> list[Rule]:
        matched = []
        for rule in self._rules.current.for_event(event.kind):
            try:
                if rule.when is None or rule.when(context):
                    matched.append(rule)
            except RuleError as exc:
                # A condition that fails at run time must be visible, not silently "false".
                log.error("%s", exc, extra={"action": "rule_condition_error"})
        return matched
