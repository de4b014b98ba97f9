"""Follow-ups: a rule's `after` / `every` messages, fired from the subject's state at the time.

Each occurrence is a schedule row; firing one writes the next. A follow-up stops by itself:
when its subject closes, when its rule's `until` becomes true, after `max_times`, or when
its rule is removed. After downtime an overdue occurrence fires once (the missed repeats are
coalesced) unless it is older than `scheduler.stale_after`, then it is recorded as skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.events import Event
from notifier.engine.context import Subject, base_context, load_subject
from notifier.engine.fanout import FanOut, PlanStats
from notifier.engine.occasions import Occasion
from notifier.engine.rules import LiveRules, Rule
from notifier.errors import RuleError
from notifier.store import schedules as schedule_store

log = logging.getLogger(__name__)

KIND = "followup"


def is_followup(rule: Rule) -> bool:
    return rule.after is not None or rule.every is not None


class Followups:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        rules: LiveRules,
        fanout: FanOut,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._fanout = fanout
        self._settings = settings
        self._clock = clock

    async def arm(
        self,
        conn: AsyncConnection,
        event: Event,
        rules: list[Rule],
        pending: Sequence[schedule_store.Schedule] | None = None,
    ) -> int:
        """Start each follow-up rule this event triggers, unless it is already running.
        `pending`: the subject's pending schedules, if read already. Returns how many it
        started."""
        if not rules:
            return 0
        if pending is None:
            pending = await schedule_store.pending_for_subject(
                conn, event.subject_type, event.subject_id, kind=KIND
            )
        running = {s.name for s in pending if s.kind == KIND}
        started = 0
        for rule in rules:
            if rule.name in running:
                continue
            running.add(rule.name)
            first = rule.after if rule.after is not None else rule.every
            assert first is not None
            await schedule_store.create(
                conn,
                kind=KIND,
                name=rule.name,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                due_at=event.occurred_at + first,
                now=self._clock.now(),
                event_id=event.id,
                every=rule.every,
                max_times=rule.max_times,
            )
            started += 1
        return started

    async def review(
        self,
        conn: AsyncConnection,
        subject: Subject,
        context: dict[str, Any],
        pending: Sequence[schedule_store.Schedule] | None = None,
    ) -> None:
        """Cancel the subject's pending follow-ups that should stop, with the reason.
        `pending`: the subject's pending schedules, if read already."""
        if pending is None:
            pending = await schedule_store.pending_for_subject(
                conn, subject.type, subject.id, kind=KIND
            )
        for schedule in (s for s in pending if s.kind == KIND):
            reason = self._stop_reason(schedule.name, subject, context)
            if reason is not None:
                await schedule_store.cancel(
                    conn, [schedule.id], reason=reason, now=self._clock.now()
                )

    def _rule(self, name: str) -> Rule | None:
        for rule in self._rules.current.rules:
            if rule.name == name and rule.enabled and is_followup(rule):
                return rule
        return None

    def _stop_reason(self, name: str, subject: Subject, context: dict[str, Any]) -> str | None:
        rule = self._rule(name)
        if rule is None:
            return f"rule {name!r} was removed or disabled"
        if not subject.is_open:
            return f"{subject.type} {subject.id} is closed"
        if rule.until is not None:
            try:
                if rule.until(context):
                    return f"until: {rule.until.source}"
            except RuleError as exc:
                log.error("%s", exc, extra={"action": "rule_until_error"})
        return None

    async def fire(self, schedule: schedule_store.Schedule) -> PlanStats:
        stats = PlanStats()
        now = self._clock.now()
        async with self._engine.connect() as conn:
            subject = await load_subject(conn, schedule.subject_type, schedule.subject_id)
        n = schedule.fired + 1
        event = {
            "id": schedule.event_id,
            "kind": "followup",
            "from_status": None,
            "to_status": None,
            "payload": {"rule": schedule.name, "n": n, "due_at": schedule.due_at.isoformat()},
            "occurred_at": now,
        }
        context = base_context(subject, event, self._settings, self._clock)
        reason = self._stop_reason(schedule.name, subject, context)
        rule = self._rule(schedule.name)
        if reason is not None or rule is None:
            async with self._engine.begin() as conn:
                await schedule_store.finish(
                    conn, schedule.id, status=schedule_store.CANCELLED, now=now, reason=reason
                )
            return stats
        late = now - schedule.due_at
        stale_after = self._settings.scheduler.stale_after
        if late > stale_after:
            status, why, fired = (
                schedule_store.SKIPPED,
                f"stale: due {schedule.due_at.isoformat()}, {_minutes(late)} late "
                f"(limit {_minutes(stale_after)})",
                schedule.fired,
            )
        else:
            occasion = Occasion(
                key_prefix=f"s{schedule.id}",
                event_id=schedule.event_id,
                subject_type=schedule.subject_type,
                subject_id=schedule.subject_id,
                is_followup=True,
            )
            await self._fanout.run(occasion, rule, context, stats)
            status, why, fired = schedule_store.DONE, None, n
        async with self._engine.begin() as conn:
            await schedule_store.finish(
                conn, schedule.id, status=status, now=now, reason=why, fired=fired
            )
            following = _next_due(rule, schedule, fired, now)
            if following is not None:
                await schedule_store.create(
                    conn,
                    kind=KIND,
                    name=rule.name,
                    subject_type=schedule.subject_type,
                    subject_id=schedule.subject_id,
                    due_at=following,
                    now=now,
                    event_id=schedule.event_id,
                    every=rule.every,
                    max_times=rule.max_times,
                    fired=fired,
                )
        return stats


def _next_due(
    rule: Rule, schedule: schedule_store.Schedule, fired: int, now: datetime
) -> datetime | None:
    """The next occurrence after `now`: repeats missed while nobody was running coalesce."""
    if rule.every is None or (rule.max_times is not None and fired >= rule.max_times):
        return None
    due = schedule.due_at + rule.every
    if due <= now:
        missed = (now - due) // rule.every + 1
        due += rule.every * missed
    return due


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
