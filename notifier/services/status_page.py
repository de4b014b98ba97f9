"""What the public status page shows, read from the database in one go: a snapshot.

The page, its JSON and its feeds are all served from the latest snapshot in memory (see
`runtime.status_cache`), so a visitor's request never reaches the database: the page stays
up while a fan-out keeps the database busy. `change_mark` is the cheap question asked
every few seconds to decide whether a new snapshot is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.incidents import Incident, IncidentUpdate, Severity
from notifier.domain.maintenance import Maintenance, MaintenanceStatus, MaintenanceUpdate
from notifier.domain.services import (
    GRAVITY,
    SEVERITY_STATUS,
    ServiceStatus,
    ServiceView,
    derived_status,
    worst,
)
from notifier.store import incidents as incident_store
from notifier.store import maintenance as maintenance_store
from notifier.store import services as store

HISTORY_DAYS = 90
MAX_INCIDENTS = 500  # the page's history, newest first; older ones are left off

# The page's overall indicator (Statuspage's vocabulary), from the worst service status
# and the worst open incident.
INDICATOR_OF_STATUS: dict[ServiceStatus, str] = {
    ServiceStatus.OPERATIONAL: "none",
    ServiceStatus.UNDER_MAINTENANCE: "maintenance",
    ServiceStatus.DEGRADED_PERFORMANCE: "minor",
    ServiceStatus.PARTIAL_OUTAGE: "major",
    ServiceStatus.MAJOR_OUTAGE: "critical",
}


@dataclass(frozen=True, slots=True)
class PublicIncident:
    incident: Incident
    updates: tuple[IncidentUpdate, ...]

    @property
    def updates_newest_first(self) -> list[IncidentUpdate]:
        return list(reversed(self.updates))


@dataclass(frozen=True, slots=True)
class PublicMaintenance:
    maintenance: Maintenance
    updates: tuple[MaintenanceUpdate, ...]


@dataclass(frozen=True, slots=True)
class DayBar:
    day: date
    status: ServiceStatus
    incident_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ServiceRow:
    view: ServiceView
    bars: tuple[DayBar, ...]

    @property
    def uptime_days(self) -> int:
        return sum(1 for b in self.bars if b.status is ServiceStatus.OPERATIONAL)


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    version: int
    built_at: datetime
    mark: tuple[Any, ...]
    company: str
    services: tuple[ServiceRow, ...]
    open_incidents: tuple[PublicIncident, ...]
    past_incidents: tuple[PublicIncident, ...]
    indicator: str
    days: tuple[date, ...]
    by_id: dict[int, PublicIncident] = field(default_factory=dict)
    maintenances: tuple[PublicMaintenance, ...] = ()
    default_locale: str = "en"  # the language of the operator's text without a translation

    def said(self, subject: Any, name: str, locale: str) -> tuple[str | None, str]:
        """An incident's or update's free text (`message`, `workaround`, `cause`) in
        `locale` if the operator gave it, else in the default locale; and which it is."""
        texts = (getattr(subject, "translations", None) or {}).get(name) or {}
        if locale != self.default_locale and texts.get(locale):
            return texts[locale], locale
        return getattr(subject, name), self.default_locale

    @property
    def upcoming(self) -> list[PublicMaintenance]:
        found = [
            m for m in self.maintenances if m.maintenance.status is MaintenanceStatus.SCHEDULED
        ]
        return sorted(found, key=lambda m: m.maintenance.starts_at)

    @property
    def active(self) -> list[PublicMaintenance]:
        return [
            m for m in self.maintenances if m.maintenance.status is MaintenanceStatus.IN_PROGRESS
        ]

    @property
    def updated_at(self) -> datetime:
        """When what the page shows last changed (not when it was read)."""
        times = [p.incident.updated_at for p in self.by_id.values()]
        times += [r.view.service.updated_at for r in self.services]
        times += [m.maintenance.updated_at for m in self.maintenances]
        return max(times, default=self.built_at)


async def change_mark(engine: AsyncEngine) -> tuple[Any, ...]:
    async with engine.connect() as conn:
        return await store.latest_change(conn)


async def build_snapshot(
    engine: AsyncEngine, *, now: datetime, company: str, version: int, default_locale: str = "en"
) -> StatusSnapshot:
    today = now.date()
    days = tuple(today - timedelta(days=n) for n in range(HISTORY_DAYS - 1, -1, -1))
    since = datetime.combine(days[0], time(), tzinfo=now.tzinfo)
    async with engine.connect() as conn:
        mark = await store.latest_change(conn)
        services = await store.list_services(conn)
        found = await store.incidents_since(conn, since, limit=MAX_INCIDENTS)
        updates = await incident_store.updates_by_incident(conn, [i.id for i in found])
        windows = await maintenance_store.list_maintenances(conn, since=since, limit=MAX_INCIDENTS)
        window_updates = await maintenance_store.updates_by_maintenance(
            conn, [m.id for m in windows]
        )
    public = [PublicIncident(i, tuple(updates.get(i.id, ()))) for i in found]
    open_incidents = [p.incident for p in public if p.incident.is_open]
    running = {
        key for m in windows if m.status is MaintenanceStatus.IN_PROGRESS for key in m.affects
    }
    rows = tuple(
        ServiceRow(
            ServiceView(s, derived_status(s, open_incidents, in_maintenance=s.key in running)),
            _bars(s.key, found, days, now),
        )
        for s in services
    )
    return StatusSnapshot(
        version=version,
        built_at=now,
        mark=mark,
        company=company,
        services=rows,
        open_incidents=tuple(p for p in public if p.incident.is_open),
        past_incidents=tuple(p for p in public if not p.incident.is_open),
        indicator=_indicator(rows, open_incidents),
        days=days,
        by_id={p.incident.id: p for p in public},
        maintenances=tuple(PublicMaintenance(m, tuple(window_updates[m.id])) for m in windows),
        default_locale=default_locale,
    )


def _indicator(rows: tuple[ServiceRow, ...], open_incidents: list[Incident]) -> str:
    statuses = [r.view.status for r in rows]
    # Incidents naming no catalogued service still count: the page must not say "all
    # operational" while something is down.
    statuses += [SEVERITY_STATUS[i.severity] for i in open_incidents]
    return INDICATOR_OF_STATUS[worst(statuses)]


def _bars(
    key: str, incidents: list[Incident], days: tuple[date, ...], now: datetime
) -> tuple[DayBar, ...]:
    """The worst status each day, from the incidents that affected `key` during it."""
    worst_of: dict[date, ServiceStatus] = {}
    ids: dict[date, list[int]] = {}
    first, last = days[0], days[-1]
    for incident in incidents:
        if key not in incident.affects:
            continue
        start = max(incident.declared_at.date(), first)
        end = min((incident.resolved_at or now).date(), last)
        status = SEVERITY_STATUS[incident.severity]
        day = start
        while day <= end:
            current = worst_of.get(day, ServiceStatus.OPERATIONAL)
            if GRAVITY[status] > GRAVITY[current]:
                worst_of[day] = status
            ids.setdefault(day, []).append(incident.id)
            day += timedelta(days=1)
    return tuple(
        DayBar(d, worst_of.get(d, ServiceStatus.OPERATIONAL), tuple(sorted(ids.get(d, []))))
        for d in days
    )


def severity_indicator(severity: Severity) -> str:
    return INDICATOR_OF_STATUS[SEVERITY_STATUS[severity]]
