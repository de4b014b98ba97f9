"""Incidents: severities, statuses and the transition table between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from notifier.errors import InvalidTransition


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


class IncidentStatus(StrEnum):
    DECLARED = "declared"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


S = IncidentStatus

# The operator's free text, which may be written in several locales.
FREE_TEXT = ("message", "workaround", "cause")
Translations = dict[str, dict[str, str]]  # {field: {locale: text}}, default locale apart


def _copy(translations: Translations | None) -> Translations:
    return {field: dict(texts) for field, texts in (translations or {}).items()}

# Forward moves may skip steps (a cause can be found at once); a fix that did not hold sends
# the incident back from monitoring to identified or investigating. Resolved is final: a new
# outage is a new incident, so customers are never told "resolved" twice about one thing.
INCIDENT_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.DECLARED: frozenset({S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.RESOLVED}),
    S.INVESTIGATING: frozenset({S.IDENTIFIED, S.MONITORING, S.RESOLVED}),
    S.IDENTIFIED: frozenset({S.INVESTIGATING, S.MONITORING, S.RESOLVED}),
    S.MONITORING: frozenset({S.INVESTIGATING, S.IDENTIFIED, S.RESOLVED}),
    S.RESOLVED: frozenset(),
}


def check_incident_transition(
    incident_id: int, current: IncidentStatus, target: IncidentStatus
) -> None:
    """Raise InvalidTransition unless `current -> target` is in the table.

    Staying in the same open status is allowed: an update may bring a new ETA or workaround
    without a change of status.
    """
    if current == target and current is not S.RESOLVED:
        return
    allowed = INCIDENT_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition(
            f"incident {incident_id}",
            current.value,
            target.value,
            frozenset(s.value for s in allowed),
        )


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    title: str
    severity: Severity
    status: IncidentStatus
    affects: tuple[str, ...]
    eta: datetime | None
    workaround: str | None
    cause: str | None
    message: str | None
    declared_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    next_update_by: datetime | None = None
    # The free text in other locales than the default: {field: {locale: text}}.
    translations: Translations | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED

    def as_context(self) -> dict[str, Any]:
        """The `incident` variable of templates and rule conditions."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status.value,
            "affects": list(self.affects),
            "eta": self.eta,
            "workaround": self.workaround,
            "cause": self.cause,
            "message": self.message,
            "declared_at": self.declared_at,
            "updated_at": self.updated_at,
            "resolved_at": self.resolved_at,
            "next_update_by": self.next_update_by,
            "is_open": self.is_open,
            "translations": _copy(self.translations),
            # Which locale each free text is in: filled per customer (engine.localized).
            "text_locale": dict.fromkeys(FREE_TEXT),
        }

    def as_json(self) -> dict[str, Any]:
        data = self.as_context()
        del data["text_locale"]  # a per-customer view, not stored state
        for key in ("eta", "declared_at", "updated_at", "resolved_at", "next_update_by"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    id: int
    incident_id: int
    status: IncidentStatus
    message: str | None
    eta: datetime | None
    workaround: str | None
    cause: str | None
    created_at: datetime
    translations: Translations | None = None

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "message": self.message,
            "eta": self.eta,
            "workaround": self.workaround,
            "cause": self.cause,
            "created_at": self.created_at,
            "translations": _copy(self.translations),
            "text_locale": dict.fromkeys(FREE_TEXT),
        }

    def as_json(self) -> dict[str, Any]:
        data = self.as_context()
        del data["text_locale"]
        data["eta"] = self.eta.isoformat() if self.eta else None
        data["created_at"] = self.created_at.isoformat()
        return data
