"""Incident commands commit state, update and event together, on both stores."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.services import incidents as service
from notifier.store.events import events_for_subject
from notifier.store.tables import events, incident_updates, incidents

NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


async def _count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_declare_update_resolve_writes_state_and_events(engine: AsyncEngine) -> None:
    incident = await service.declare(
        engine,
        title="Satellite radio signal lost",
        severity="major",
        affects=["satellite-radio", "satellite-radio"],
        eta=NOW + timedelta(hours=18),
        message="We know, we are on it.",
        now=NOW,
    )
    assert incident.affects == ("satellite-radio",)
    later = NOW + timedelta(hours=14)
    updated = await service.update(
        engine,
        incident.id,
        status="identified",
        eta=NOW + timedelta(hours=25),
        workaround="Most stations are online",
        message="The fix takes 6 to 8 hours longer.",
        now=later,
    )
    assert updated.status == "identified"
    assert updated.eta == NOW + timedelta(hours=25)
    resolved = await service.resolve(
        engine, incident.id, cause="A software update failed", message="Wait 5 minutes.",
        now=later + timedelta(hours=9),
    )
    assert resolved.status == "resolved" and resolved.cause == "A software update failed"

    async with engine.connect() as conn:
        log = await events_for_subject(conn, "incident", str(incident.id))
    assert [e.kind for e in log] == ["incident.declared", "incident.updated", "incident.resolved"]
    assert log[1].payload["eta_slipped"] is True
    assert log[1].from_status == "declared" and log[1].to_status == "identified"
    view = await service.show(engine, incident.id)
    assert [u.status for u in view.updates] == ["declared", "identified", "resolved"]


async def test_illegal_transition_writes_nothing(engine: AsyncEngine) -> None:
    incident = await service.declare(
        engine, title="Outage", severity="minor", affects=["x"], now=NOW
    )
    await service.resolve(engine, incident.id, cause="fixed", now=NOW)
    before = (await _count(engine, events), await _count(engine, incident_updates))
    with pytest.raises(InvalidTransition):
        await service.update(engine, incident.id, status="monitoring", message="m", now=NOW)
    with pytest.raises(InvalidTransition):
        await service.resolve(engine, incident.id, cause="again", now=NOW)
    assert (await _count(engine, events), await _count(engine, incident_updates)) == before


async def test_unknown_incident(engine: AsyncEngine) -> None:
    with pytest.raises(NotFound, match="incident 99 does not exist"):
        await service.update(engine, 99, message="m", now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": " "}, "title: must not be empty"),
        ({"severity": "apocalyptic"}, "severity: 'apocalyptic' is not one of minor, major"),
        ({"affects": []}, "affects: name at least one"),
        ({"affects": ["bad key!"]}, "affects: 'bad key!' is not a service key"),
        ({"eta": NOW - timedelta(minutes=1)}, "eta: 2026-03-01T17:59:00+00:00 is in the past"),
    ],
)
async def test_bad_declarations_are_refused_and_nothing_is_written(
    engine: AsyncEngine, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"title": "Outage", "severity": "major", "affects": ["radio"]}
    args.update(kwargs)
    with pytest.raises(InputError, match=re.escape(message)):
        await service.declare(engine, now=NOW, **args)  # type: ignore[arg-type]
    assert await _count(engine, incidents) == 0


async def test_update_cannot_resolve_without_a_cause(engine: AsyncEngine) -> None:
    incident = await service.declare(engine, title="O", severity="minor", affects=["x"], now=NOW)
    with pytest.raises(InputError, match="use `incident resolve`"):
        await service.update(engine, incident.id, status="resolved", message="done", now=NOW)


@pytest.mark.parametrize("title", ["Outage\r\nBcc: evil@example.com", "Out\x00age", "Tab\tbed"])
async def test_a_title_is_one_line_of_text(engine: AsyncEngine, title: str) -> None:
    with pytest.raises(InputError, match="title: control character"):
        await service.declare(engine, title=title, severity="major", affects=["x"], now=NOW)
    assert await _count(engine, incidents) == 0
