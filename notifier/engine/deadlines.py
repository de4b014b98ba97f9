"""The watchdog: deadlines a subject carries, kept in step with its state.

Generic over "a subject with deadlines": each subject type says which deadlines its current
state implies (`wanted`); after every change the pending deadline schedules are brought in
line with that (kept, moved or cancelled, with the reason). A deadline that comes due raises
an ordinary event, so what happens then is up to the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.incidents import Incident
from notifier.domain.orders import Order
from notifier.engine.context import Subject
from notifier.store import events as event_store
from notifier.store import schedules as schedule_store

KIND = "deadline"
ETA_NEAR = "incident.eta_near"
ETA_PASSED = "incident.eta_passed"
UPDATE_OVERDUE = "incident.update_overdue"
ORDER_AT_RISK = "order.at_risk"
ORDER_LATE = "order.late"


def incident_deadlines(incident: Incident, *, eta_margin: timedelta) -> dict[str, datetime | None]:
    """The deadlines an incident's current state implies; None means none of that kind."""
    if not incident.is_open:
        return {ETA_NEAR: None, ETA_PASSED: None, UPDATE_OVERDUE: None}
    eta = incident.eta
    return {
        ETA_NEAR: eta - eta_margin if eta is not None else None,
        ETA_PASSED: eta,
        UPDATE_OVERDUE: incident.next_update_by,
    }


async def sync(
    conn: AsyncConnection,
    *,
    subject_type: str,
    subject_id: str,
    wanted: dict[str, datetime | None],
    now: datetime,
    event_id: int | None,
    closed: bool,
    pending: Sequence[schedule_store.Schedule] | None = None,
) -> None:
    """`pending`: the subject's pending schedules, if the caller has read them already (of
    any kind; the deadlines among them are used)."""
    if pending is None:
        pending = await schedule_store.pending_for_subject(
            conn, subject_type, subject_id, kind=KIND
        )
    for name, due in wanted.items():
        pending_now = [s for s in pending if s.kind == KIND and s.name == name]
        keep = [s for s in pending_now if due is not None and s.due_at == due]
        stale = [s.id for s in pending_now if s not in keep[:1]]
        if stale:
            if closed:
                reason = f"{subject_type} closed"
            elif due is None:
                reason = "no longer applies"
            else:
                reason = f"moved to {due.isoformat()}"
            await schedule_store.cancel(conn, stale, reason=reason, now=now)
        # A deadline already past when it is set (an ETA inside the warning margin) is not
        # armed: warning about it now would only repeat what the operator just typed.
        if due is not None and not keep and due > now:
            await schedule_store.create(
                conn,
                kind=KIND,
                name=name,
                subject_type=subject_type,
                subject_id=subject_id,
                due_at=due,
                now=now,
                event_id=event_id,
            )


async def fire(
    conn: AsyncConnection,
    schedule: schedule_store.Schedule,
    *,
    wanted: dict[str, datetime | None],
    now: datetime,
) -> str:
    """Raise the deadline's event if the subject still has this deadline. Returns the outcome."""
    if wanted.get(schedule.name) != schedule.due_at:
        await schedule_store.finish(
            conn, schedule.id, status=schedule_store.CANCELLED, now=now, reason="no longer applies"
        )
        return "cancelled"
    await event_store.append_event(
        conn,
        subject_type=schedule.subject_type,
        subject_id=schedule.subject_id,
        kind=schedule.name,
        from_status=None,
        to_status=None,
        payload={"deadline": schedule.due_at.isoformat(), "schedule_id": schedule.id},
        now=now,
    )
    await schedule_store.finish(conn, schedule.id, status=schedule_store.DONE, now=now)
    return "fired"


def order_deadlines(
    order: Order, *, shipped: bool, at_risk_margin: timedelta
) -> dict[str, datetime | None]:
    """A promise to deliver by a date: at risk while not shipped close to it, late after it."""
    due = order.promised_by if order.is_open else None
    return {
        ORDER_AT_RISK: due - at_risk_margin if due is not None and not shipped else None,
        ORDER_LATE: due,
    }


def deadlines_for(
    subject: Subject, *, eta_margin: timedelta, at_risk_margin: timedelta
) -> dict[str, datetime | None]:
    """The deadlines of any subject, by its type."""
    if subject.incident is not None:
        return incident_deadlines(subject.incident, eta_margin=eta_margin)
    if subject.maintenance is not None:
        return subject.maintenance.deadlines()
    if subject.order is not None:
        return order_deadlines(
            subject.order, shipped=subject.shipped, at_risk_margin=at_risk_margin
        )
    return {}
