"""Planned maintenance: a window announced in advance, its statuses and their transitions.

    scheduled -> in_progress   at the announced start (by the scheduler) or earlier (by ops)
    scheduled -> cancelled     called off; whoever had notice is told
    in_progress -> completed   over; customers are told
A maintenance still in progress at its announced end has overrun: the scheduler raises
`maintenance.overran`, told like a missed ETA. Completed and cancelled are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from notifier.errors import InvalidTransition


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


M = MaintenanceStatus

MAINTENANCE_TRANSITIONS: dict[MaintenanceStatus, frozenset[MaintenanceStatus]] = {
    M.SCHEDULED: frozenset({M.IN_PROGRESS, M.CANCELLED}),
    M.IN_PROGRESS: frozenset({M.COMPLETED}),
    M.COMPLETED: frozenset(),
    M.CANCELLED: frozenset(),
}

# When customers hear of it before it starts (each only if the maintenance was scheduled
# before that moment: a window announced 24 h ahead gets the 1 h notice only).
NOTICES: dict[str, timedelta] = {
    "maintenance.notice_72h": timedelta(hours=72),
    "maintenance.notice_1h": timedelta(hours=1),
}
STARTED = "maintenance.started"
OVERRAN = "maintenance.overran"


def check_maintenance_transition(
    maintenance_id: int, current: MaintenanceStatus, target: MaintenanceStatus
) -> None:
    allowed = MAINTENANCE_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition(
            f"maintenance {maintenance_id}",
            current.value,
            target.value,
            frozenset(s.value for s in allowed),
        )


@dataclass(frozen=True, slots=True)
class Maintenance:
    id: int
    title: str
    message: str | None
    affects: tuple[str, ...]
    status: MaintenanceStatus
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in (M.SCHEDULED, M.IN_PROGRESS)

    def deadlines(self) -> dict[str, datetime | None]:
        """What the scheduler should raise, given the state now (None: nothing of that kind)."""
        wanted: dict[str, datetime | None] = {}
        for name, ahead in NOTICES.items():
            due = self.starts_at - ahead
            wanted[name] = due if self.status is M.SCHEDULED and due > self.created_at else None
        wanted[STARTED] = self.starts_at if self.status is M.SCHEDULED else None
        wanted[OVERRAN] = self.ends_at if self.status is M.IN_PROGRESS else None
        return wanted

    def as_context(self) -> dict[str, Any]:
        """The `maintenance` variable of templates and rule conditions."""
        return {
            "id": self.id,
            "title": self.title,
            "message": self.message,
            "affects": list(self.affects),
            "status": self.status.value,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "is_open": self.is_open,
        }

    def as_json(self) -> dict[str, Any]:
        data = self.as_context()
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class MaintenanceUpdate:
    id: int
    maintenance_id: int
    status: MaintenanceStatus
    message: str | None
    created_at: datetime
