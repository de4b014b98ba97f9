"""Declare, update and resolve incidents: the one implementation behind the CLI and the API.

Each call commits the new state, the public update and the event in one transaction, so an
acknowledged change is never without the event that makes the rules run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.domain.incidents import (
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Severity,
    Translations,
    check_incident_transition,
)
from notifier.errors import InputError
from notifier.outbox import supersede as outbox_store
from notifier.services.incident_input import MAX_TITLE
from notifier.services.incident_input import affects as _affects
from notifier.services.incident_input import future as _future
from notifier.services.incident_input import text as _text
from notifier.store import events as event_store
from notifier.store import incidents as store


@dataclass(frozen=True, slots=True)
class IncidentView:
    incident: Incident
    updates: list[IncidentUpdate]

    def as_json(self) -> dict[str, Any]:
        data = self.incident.as_json()
        data["updates"] = [u.as_json() for u in self.updates]
        return data


_LOCALE = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2}|_[A-Z][a-z]{3})?$")
MAX_LOCALES = 20


def _translations(
    given: Mapping[str, Mapping[str, str | None]] | None, fields: Sequence[str]
) -> Translations:
    """{field: {locale: text}} checked like the default text: known fields, locale tags
    such as fr or pt_BR, each text as `_text` wants it; empty texts dropped."""
    if not given:
        return {}
    checked: Translations = {}
    for field, texts in given.items():
        if field not in fields:
            raise InputError(f"{field}: no text in other locales here (only {', '.join(fields)})")
        if len(texts) > MAX_LOCALES:
            raise InputError(f"{field}: at most {MAX_LOCALES} locales (got {len(texts)})")
        for locale, text in texts.items():
            tag = locale.replace("-", "_")
            if not _LOCALE.match(tag):
                raise InputError(f"{field}: {locale!r} is not a locale (like fr or pt_BR)")
            clean = _text(f"{field}.{tag}", text)
            if clean is not None:
                checked.setdefault(field, {})[tag] = clean
    return checked


def _merged(
    current: Translations | None, given: Translations, fields: Sequence[str]
) -> Translations:
    """The incident's translations after an update: a field the update sets takes the
    update's translations only (a locale it leaves out falls back to the new default text,
    never to an old translation of an older text); other fields keep theirs."""
    merged = {f: dict(t) for f, t in (current or {}).items() if f not in fields}
    merged.update(given)
    return merged


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
    translations: Mapping[str, Mapping[str, str | None]] | None = None,
) -> Incident:
    """The incident a declaration describes, checked (id 0: not stored). `declare` stores
    it; the dry run counts its audience; both refuse the same input the same way.
    `translations`: the message and workaround in other locales, {field: {locale: text}}."""
    clean_title = _text("title", title, required=True, limit=MAX_TITLE, one_line=True)
    assert clean_title is not None
    try:
        level = Severity(severity)
    except ValueError:
        raise InputError(
            f"severity: {severity!r} is not one of {', '.join(s.value for s in Severity)}"
        ) from None
    given = _translations(translations, ("message", "workaround"))
    for field, default in (("message", message), ("workaround", workaround)):
        if field in given and _text(field, default) is None:
            raise InputError(f"{field}: give it in the default locale too")
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
        translations=given or None,
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
    translations: Mapping[str, Mapping[str, str | None]] | None = None,
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
        translations=translations,
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
                "translations": new.translations,
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
            translations=new.translations,
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
    translations: Mapping[str, Mapping[str, str | None]] | None = None,
) -> Incident:
    """Post an update. A promise of the next update is replaced (or cleared) by each one.
    `translations`: the message and workaround in other locales, {field: {locale: text}}."""
    text = _text("message", message, required=True)
    given = _translations(translations, ("message", "workaround"))
    target = _status(status)
    if target is IncidentStatus.RESOLVED:
        raise InputError("status: use `incident resolve` to resolve (it needs the cause)")
    eta = _future("eta", eta, now)
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
        if "workaround" in given and workaround is None:
            raise InputError("workaround: give it in the default locale too")
        setting = ["message"] + (["workaround"] if workaround is not None else [])
        values["translations"] = _merged(current.translations, given, setting) or None
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
            translations=given,
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
    translations: Mapping[str, Mapping[str, str | None]] | None = None,
) -> Incident:
    """`translations`: the cause and message in other locales, {field: {locale: text}}."""
    clean_cause = _text("cause", cause, required=True)
    text = _text("message", message)
    given = _translations(translations, ("cause", "message"))
    if "message" in given and text is None:
        raise InputError("message: give it in the default locale too")
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
                "translations": _merged(
                    current.translations, given, ["cause"] + (["message"] if text else [])
                )
                or None,
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
            translations=given,
        )
        # Whatever was still waiting (a follow-up, a deadline's warning, an update held by
        # quiet hours) would now be false: only the resolution leaves from here on.
        await outbox_store.supersede_subject(
            conn, subject_type="incident", subject_id=str(incident_id), now=now, by="the resolution"
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
