"""Services (the status page's components): what customers depend on, and their status.

A service's status is derived from what is open against it, unless an operator overrides
it (the override stays until cleared, so a page never flips back behind their back).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from notifier.domain.incidents import Incident, Severity


class ServiceStatus(StrEnum):
    # In order of gravity: the worst of several causes is the one shown.
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


GRAVITY: dict[ServiceStatus, int] = {status: rank for rank, status in enumerate(ServiceStatus)}

# What an open incident of each severity does to the services it affects.
SEVERITY_STATUS: dict[Severity, ServiceStatus] = {
    Severity.MINOR: ServiceStatus.DEGRADED_PERFORMANCE,
    Severity.MAJOR: ServiceStatus.PARTIAL_OUTAGE,
    Severity.CRITICAL: ServiceStatus.MAJOR_OUTAGE,
}


def worst(statuses: Iterable[ServiceStatus]) -> ServiceStatus:
    return max(statuses, key=GRAVITY.__getitem__, default=ServiceStatus.OPERATIONAL)


@dataclass(frozen=True, slots=True)
class Service:
    key: str  # what incidents' `affects` and customers' services name
    name: str
    description: str | None
    group: str | None
    position: int
    override: ServiceStatus | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "group": self.group,
            "position": self.position,
            "override": self.override.value if self.override else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def derived_status(
    service: Service, open_incidents: Iterable[Incident], *, in_maintenance: bool = False
) -> ServiceStatus:
    """The override if there is one; otherwise the worst of what is open against it."""
    if service.override is not None:
        return service.override
    causes = [
        SEVERITY_STATUS[i.severity]
        for i in open_incidents
        if i.is_open and service.key in i.affects
    ]
    if in_maintenance:
        causes.append(ServiceStatus.UNDER_MAINTENANCE)
    return worst(causes)


@dataclass(frozen=True, slots=True)
class ServiceView:
    service: Service
    status: ServiceStatus

    def as_json(self) -> dict[str, Any]:
        return {**self.service.as_json(), "status": self.status.value}
