"""Declare, update and resolve incidents: the one implementation behind the CLI and the API.

Each call commits the new state, the public update and the event in one transaction, so an
acknowledged change is never without the event that makes the rules run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.incidents import (
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Severity,
    check_incident_transition,
)
from notifier.errors import InputError
from notifier.outbox.supersede import supersede_subject
from notifier.store import events as event_store
from notifier.store import incidents as store

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # \t \n \r are fine
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class IncidentView:
    incident: Incident
    updates: list[IncidentUpdate]

    def as_json(self) -> dict[str, Any]:
        data = self.incident.as_json()
        data["updates"] = [u.as_json() for u in self.updates]
        return data


def _text(
    field: str,
    value: str | None,
    *,
    required: bool = False,
    limit: int = MAX_TEXT,
    one_line: bool = False,
) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InputError(f"{field}: must not be empty")
        return None
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{field}: at most {limit} characters (got {len(value)})")
    # A title becomes an email subject: refuse line breaks and control characters outright,
    # the same on every way in, rather than rely on the email builder's escaping alone.
    bad = _CONTROL.search(value) if one_line else _CONTROL_MULTILINE.search(value)
    if bad:
        raise InputError(f"{field}: control character {bad.group()!r} is not allowed")
    return value


def _affects(keys: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for key in keys:
        key = key.strip()
        if not _KEY.match(key):
            raise InputError(
                f"affects: {key!r} is not a service key (letters, digits and . _ : / -)"
            )
        if key not in cleaned:
            cleaned.append(key)
    if not cleaned:
        raise InputError("affects: name at least one affected service")
    return cleaned


def _eta(eta: datetime | None, now: datetime) -> datetime | None:
    return _future("eta", eta, now)


def _future(field: str, value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InputError(f"{field}: give a time zone (or a relative value such as +2h)")
    if value <= now:
        raise InputError(f"{field}: {value.isoformat()} is in the past")
    return value


def _json_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def new_incident(
    *,
    title: str,
    severity: Severity | str,
    affects: Sequence[str],
    now: datetime,
    eta: datetime | None = None,
    workaround: str | None = None,
    message: str | None = None,
    next_update_by: datetime | None = None,
) -> Incident:
    """The incident a declaration describes, checked (id 0: not stored). `declare` stores
    it; the dry run counts its audience; both refuse the same input the same way."""
    clean_title = _text("title", title, required=True, limit=300, one_line=True)
    assert clean_title is not None
    try:
        level = Severity(severity)
    except ValueError:
        raise InputError(
            f"severity: {severity!r} is not one of {', '.join(s.value for s in Severity)}"
        ) from None
    return Incident(
        id=0,
        title=clean_title,
        severity=level,
        status=IncidentStatus.DECLARED,
        affects=tuple(_affects(affects)),
        eta=_future("eta", eta, now),
        workaround=_text("workaround", workaround),
        cause=None,
        message=_text("message", message),
        declared_at=now,
        updated_at=now,
        resolved_at=None,
        next_update_by=_future("next_update_by", next_update_by, now),
    )


async def declare(
    engine: AsyncEngine,
    *,
    title: str,
    severity: Severity | str,
    affects: Sequence[str],
    now: datetime,
    eta: datetime | None = None,
    workaround: str | None = None,
    message: str | None = None,
    next_update_by: datetime | None = None,
) -> Incident:
    new = new_incident(
        title=title,
        severity=severity,
        affects=affects,
        now=now,
        eta=eta,
        workaround=workaround,
        message=message,
        next_update_by=next_update_by,
    )
    async with engine.begin() as conn:
        incident_id = await store.insert_incident(
            conn,
            {
                "title": new.title,
                "severity": new.severity.value,
                "status": new.status.value,
                "affects": list(new.affects),
                "eta": new.eta,
                "workaround": new.workaround,
                "message": new.message,
                "next_update_by": new.next_update_by,
                "declared_at": now,
                "updated_at": now,
            },
        )
        update_id = await store.insert_update(
            conn,
            incident_id=incident_id,
            status=IncidentStatus.DECLARED,
            message=new.message,
            eta=new.eta,
            workaround=new.workaround,
            cause=None,
            now=now,
        )
        await _event(
            conn,
            incident_id,
            "incident.declared",
            None,
            IncidentStatus.DECLARED,
            {"update_id": update_id, "eta": _json_time(new.eta)},
            now,
        )
        return await store.get_incident(conn, incident_id)


async def update(
    engine: AsyncEngine,
    incident_id: int,
    *,
    now: datetime,
    message: str,
    status: IncidentStatus | str | None = None,
    eta: datetime | None = None,
    workaround: str | None = None,
    next_update_by: datetime | None = None,
) -> Incident:
    """Post an update. A promise of the next update is replaced (or cleared) by each one."""
    text = _text("message", message, required=True)
    target = _status(status)
    if target is IncidentStatus.RESOLVED:
        raise InputError("status: use `incident resolve` to resolve (it needs the cause)")
    eta = _eta(eta, now)
    next_update_by = _future("next_update_by", next_update_by, now)
    workaround = _text("workaround", workaround)
    async with engine.begin() as conn:
        current = await store.get_incident(conn, incident_id, for_update=True)
        target = target or current.status
        check_incident_transition(incident_id, current.status, target)
        values: dict[str, Any] = {
            "status": target.value,
            "message": text,
            "updated_at": now,
            "next_update_by": next_update_by,
        }
        if eta is not None:
            values["eta"] = eta
        if workaround is not None:
            values["workaround"] = workaround
        await store.set_incident(conn, incident_id, values)
        update_id = await store.insert_update(
            conn,
            incident_id=incident_id,
            status=target,
            message=text,
            eta=eta,
            workaround=workaround,
            cause=None,
            now=now,
        )
        payload = {
            "update_id": update_id,
            "eta": _json_time(eta),
            "previous_eta": _json_time(current.eta),
            "eta_changed": eta is not None and eta != current.eta,
            "eta_slipped": eta is not None and current.eta is not None and eta > current.eta,
            "workaround_changed": workaround is not None and workaround != current.workaround,
        }
        await _event(conn, incident_id, "incident.updated", current.status, target, payload, now)
        return await store.get_incident(conn, incident_id)


async def resolve(
    engine: AsyncEngine,
    incident_id: int,
    *,
    now: datetime,
    cause: str,
    message: str | None = None,
) -> Incident:
    clean_cause = _text("cause", cause, required=True)
    text = _text("message", message)
    async with engine.begin() as conn:
        current = await store.get_incident(conn, incident_id, for_update=True)
        check_incident_transition(incident_id, current.status, IncidentStatus.RESOLVED)
        await store.set_incident(
            conn,
            incident_id,
            {
                "status": IncidentStatus.RESOLVED.value,
                "cause": clean_cause,
                "message": text or current.message,
                "updated_at": now,
                "resolved_at": now,
                "next_update_by": None,
            },
        )
        update_id = await store.insert_update(
            conn,
            incident_id=incident_id,
            status=IncidentStatus.RESOLVED,
            message=text,
            eta=None,
            workaround=None,
            cause=clean_cause,
            now=now,
        )
        await _event(
            conn,
            incident_id,
            "incident.resolved",
            current.status,
            IncidentStatus.RESOLVED,
            {"update_id": update_id},
            now,
        )
        # What has not gone yet is stale from this commit on, not from when the resolution
        # is planned: lanes would go on sending the declaration in between.
        await supersede_subject(
            conn,
            subject_type="incident",
            subject_id=str(incident_id),
            now=now,
            by="the resolution",
        )
        return await store.get_incident(conn, incident_id)


async def show(engine: AsyncEngine, incident_id: int) -> IncidentView:
    async with engine.connect() as conn:
        incident = await store.get_incident(conn, incident_id)
        return IncidentView(incident, await store.list_updates(conn, incident_id))


async def list_all(engine: AsyncEngine, *, open_only: bool = False) -> list[Incident]:
    async with engine.connect() as conn:
        return await store.list_incidents(conn, open_only=open_only)


def _status(status: IncidentStatus | str | None) -> IncidentStatus | None:
    if status is None:
        return None
    try:
        return IncidentStatus(status)
    except ValueError:
        raise InputError(
            f"status: {status!r} is not one of {', '.join(s.value for s in IncidentStatus)}"
        ) from None


async def _event(
    conn: AsyncConnection,
    incident_id: int,
    kind: str,
    from_status: IncidentStatus | None,
    to_status: IncidentStatus,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    await event_store.append_event(
        conn,
        subject_type="incident",
        subject_id=str(incident_id),
        kind=kind,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        payload=payload,
        now=now,
    )
