"""/status/api/v2/*.json: the status page in Statuspage's public v2 shape, and its feeds.

Monitoring tools and chat integrations read status pages in this shape. Everything comes
from the snapshot in memory, serialised once per snapshot (see `status_published`).
A cancelled maintenance is left out of the maintenance lists (Statuspage has no word
for it); an overrun one stays "in_progress".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from notifier.domain.incidents import IncidentStatus
from notifier.domain.maintenance import MaintenanceStatus
from notifier.domain.services import ServiceStatus
from notifier.runtime.status_cache import StatusCacheDep
from notifier.services.status_page import (
    PublicIncident,
    PublicMaintenance,
    ServiceRow,
    StatusSnapshot,
)
from notifier.web.status_published import Reader, publish
from notifier.web.status_text import TEXT

router = APIRouter(prefix="/status/api/v2", include_in_schema=False)
PAGE_ID = "notifier"
RECENT = 50  # incidents.json: the newest, resolved or not

# Our statuses in Statuspage's words: "declared" is what they call investigating.
INCIDENT_STATUS: dict[IncidentStatus, str] = {
    IncidentStatus.DECLARED: "investigating",
    IncidentStatus.INVESTIGATING: "investigating",
    IncidentStatus.IDENTIFIED: "identified",
    IncidentStatus.MONITORING: "monitoring",
    IncidentStatus.RESOLVED: "resolved",
}
# Statuspage's indicator has no "maintenance": a page under maintenance only is "none".
INDICATOR = {
    "none": "none",
    "maintenance": "none",
    "minor": "minor",
    "major": "major",
    "critical": "critical",
}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _group_id(name: str) -> str:
    return f"group:{name}"


def _component(row: ServiceRow) -> dict[str, Any]:
    s = row.view.service
    return {
        "id": s.key,
        "name": s.name,
        "status": row.view.status.value,
        "description": s.description,
        "position": s.position,
        "group_id": _group_id(s.group) if s.group else None,
        "group": False,
        "only_show_if_degraded": False,
        "showcase": True,
        "page_id": PAGE_ID,
        "created_at": _time(s.created_at),
        "updated_at": _time(s.updated_at),
        "start_date": s.created_at.date().isoformat(),
    }


def _components(snap: StatusSnapshot) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for row in snap.services:
        component = _component(row)
        group = row.view.service.group
        if group and group not in groups:
            groups[group] = {
                **component,
                "id": _group_id(group),
                "name": group,
                "description": None,
                "group_id": None,
                "group": True,
                "components": [],
            }
            out.append(groups[group])
        if group:
            groups[group]["components"].append(component["id"])
            groups[group]["status"] = max(
                (groups[group]["status"], component["status"]), key=_gravity
            )
        out.append(component)
    return out


def _gravity(status: str) -> int:
    return list(ServiceStatus).index(ServiceStatus(status))


def _incident(p: PublicIncident, snap: StatusSnapshot, base: str) -> dict[str, Any]:
    i = p.incident
    rows = {r.view.service.key: r for r in snap.services}
    affected = [rows[k] for k in i.affects if k in rows]
    monitoring = [u.created_at for u in p.updates if u.status is IncidentStatus.MONITORING]
    updates = []
    for u in reversed(p.updates):  # newest first, as Statuspage lists them
        body = u.message or (f"{TEXT['en']['cause']}: {u.cause}" if u.cause else "")
        updates.append(
            {
                "id": str(u.id),
                "incident_id": str(i.id),
                "status": INCIDENT_STATUS[u.status],
                "body": body,
                "created_at": _time(u.created_at),
                "updated_at": _time(u.created_at),
                "display_at": _time(u.created_at),
                "affected_components": [
                    {"code": r.view.service.key, "name": r.view.service.name} for r in affected
                ],
            }
        )
    return {
        "id": str(i.id),
        "name": i.title,
        "status": INCIDENT_STATUS[i.status],
        "impact": i.severity.value,
        "shortlink": f"{base}/status/incidents/{i.id}",
        "page_id": PAGE_ID,
        "created_at": _time(i.declared_at),
        "updated_at": _time(i.updated_at),
        "started_at": _time(i.declared_at),
        "monitoring_at": _time(monitoring[0]) if monitoring else None,
        "resolved_at": _time(i.resolved_at),
        "incident_updates": updates,
        "components": [_component(r) for r in affected],
    }


def _maintenance(pm: PublicMaintenance, snap: StatusSnapshot, base: str) -> dict[str, Any]:
    m = pm.maintenance
    rows = {r.view.service.key: r for r in snap.services}
    affected = [rows[k] for k in m.affects if k in rows]
    return {
        "id": f"m{m.id}",
        "name": m.title,
        "status": m.status.value,
        "impact": "maintenance",
        "shortlink": f"{base}/status",
        "page_id": PAGE_ID,
        "created_at": _time(m.created_at),
        "updated_at": _time(m.updated_at),
        "started_at": _time(m.started_at),
        "scheduled_for": _time(m.starts_at),
        "scheduled_until": _time(m.ends_at),
        "monitoring_at": None,
        "resolved_at": _time(m.completed_at),
        "incident_updates": [
            {
                "id": f"mu{u.id}",
                "incident_id": f"m{m.id}",
                "status": u.status.value,
                "body": u.message or "",
                "created_at": _time(u.created_at),
                "updated_at": _time(u.created_at),
                "display_at": _time(u.created_at),
                "affected_components": [
                    {"code": r.view.service.key, "name": r.view.service.name} for r in affected
                ],
            }
            for u in reversed(pm.updates)
        ],
        "components": [_component(r) for r in affected],
    }


def _maintenances(snap: StatusSnapshot, base: str, which: str) -> list[dict[str, Any]]:
    chosen = {
        "upcoming": snap.upcoming,
        "active": snap.active,
        "current": snap.active + snap.upcoming,
        "all": [
            m for m in snap.maintenances if m.maintenance.status is not MaintenanceStatus.CANCELLED
        ],
    }[which]
    return [_maintenance(m, snap, base) for m in chosen]


def _page(snap: StatusSnapshot, base: str) -> dict[str, Any]:
    return {
        "id": PAGE_ID,
        "name": snap.company,
        "url": f"{base}/status",
        "time_zone": "Etc/UTC",
        "updated_at": _time(snap.updated_at),
    }


def _status(snap: StatusSnapshot) -> dict[str, str]:
    return {"indicator": INDICATOR[snap.indicator], "description": TEXT["en"][snap.indicator]}


def document(name: str, snap: StatusSnapshot, base: str) -> dict[str, Any]:
    """The body of `name` (summary, status, components, ...)."""
    page = _page(snap, base)
    unresolved = [_incident(p, snap, base) for p in snap.open_incidents]
    if name == "summary":
        return {
            "page": page,
            "status": _status(snap),
            "components": _components(snap),
            "incidents": unresolved,
            "scheduled_maintenances": _maintenances(snap, base, "current"),
        }
    if name == "status":
        return {"page": page, "status": _status(snap)}
    if name == "components":
        return {"page": page, "components": _components(snap)}
    if name == "incidents":
        recent = sorted(snap.by_id.values(), key=lambda p: p.incident.id, reverse=True)[:RECENT]
        return {"page": page, "incidents": [_incident(p, snap, base) for p in recent]}
    if name == "incidents/unresolved":
        return {"page": page, "incidents": unresolved}
    which = {
        "scheduled-maintenances/upcoming": "upcoming",
        "scheduled-maintenances/active": "active",
    }.get(name, "all")
    return {"page": page, "scheduled_maintenances": _maintenances(snap, base, which)}


DOCUMENTS = (
    "summary",
    "status",
    "components",
    "incidents",
    "incidents/unresolved",
    "scheduled-maintenances",
    "scheduled-maintenances/upcoming",
    "scheduled-maintenances/active",
)


def _route(name: str) -> None:
    def render(snap: StatusSnapshot, reader: Reader) -> str:
        return json.dumps(document(name, snap, reader.base), ensure_ascii=False)

    published = publish(
        f"{router.prefix}/{name}.json", "application/json", render, varies="base", cors=True
    )

    async def serve(request: Request, cache: StatusCacheDep) -> Response:
        return published.respond(request, await cache.current())

    router.add_api_route(f"/{name}.json", serve, methods=["GET"], name=f"status_{name}")


for _name in DOCUMENTS:
    _route(_name)
