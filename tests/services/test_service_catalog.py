"""Services as records: derived status from open incidents, a manual override, and
incidents' `affects` checked against the catalog once it holds services. Both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.incidents import Severity
from notifier.domain.services import SEVERITY_STATUS, ServiceStatus
from notifier.errors import InputError, NotFound
from notifier.services import incidents
from notifier.services import service_catalog as catalog

NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


async def _statuses(engine: AsyncEngine) -> dict[str, str]:
    return {v.service.key: v.status.value for v in await catalog.list_with_status(engine)}


async def test_add_list_in_display_order_edit_and_remove(engine: AsyncEngine) -> None:
    await catalog.add(engine, key="radio", name="Satellite radio", position=2, now=NOW)
    await catalog.add(
        engine, key="app", name="Mobile app", group="Apps", description="iOS", now=NOW
    )
    assert [v.service.key for v in await catalog.list_with_status(engine)] == ["app", "radio"]
    edited = await catalog.edit(engine, "app", position=5, description="", now=NOW)
    assert edited.position == 5 and edited.description is None and edited.group == "Apps"
    assert [v.service.key for v in await catalog.list_with_status(engine)] == ["radio", "app"]
    await catalog.remove(engine, "app")
    with pytest.raises(NotFound, match="service 'app'"):
        await catalog.show(engine, "app")
    with pytest.raises(NotFound):
        await catalog.remove(engine, "app")


@pytest.mark.parametrize("severity", list(Severity))
async def test_every_severity_derives_its_status_and_resolving_clears_it(
    engine: AsyncEngine, severity: Severity
) -> None:
    await catalog.add(engine, key="radio", name="Satellite radio", now=NOW)
    await catalog.add(engine, key="app", name="Mobile app", now=NOW)
    assert await _statuses(engine) == {"radio": "operational", "app": "operational"}
    incident = await incidents.declare(
        engine, title="Down", severity=severity, affects=["radio"], now=NOW
    )
    assert await _statuses(engine) == {
        "radio": SEVERITY_STATUS[severity].value,
        "app": "operational",
    }
    await incidents.resolve(engine, incident.id, cause="Fixed", now=NOW + timedelta(hours=1))
    assert await _statuses(engine) == {"radio": "operational", "app": "operational"}


async def test_the_worst_open_incident_wins_and_an_override_wins_over_all(
    engine: AsyncEngine,
) -> None:
    await catalog.add(engine, key="radio", name="Satellite radio", now=NOW)
    await incidents.declare(engine, title="Slow", severity="minor", affects=["radio"], now=NOW)
    await incidents.declare(engine, title="Down", severity="critical", affects=["radio"], now=NOW)
    assert (await catalog.show(engine, "radio")).status is ServiceStatus.MAJOR_OUTAGE
    await catalog.override(engine, "radio", "under_maintenance", now=NOW)
    assert (await catalog.show(engine, "radio")).status is ServiceStatus.UNDER_MAINTENANCE
    await catalog.override(engine, "radio", None, now=NOW)
    assert (await catalog.show(engine, "radio")).status is ServiceStatus.MAJOR_OUTAGE


async def test_affects_must_name_a_service_once_there_are_services(engine: AsyncEngine) -> None:
    # An empty catalog takes any key, as before services were records.
    await incidents.declare(engine, title="A", severity="minor", affects=["anything"], now=NOW)
    await catalog.add(engine, key="radio", name="Satellite radio", now=NOW)
    with pytest.raises(InputError, match=r"affects: 'raido' is not a service"):
        await incidents.declare(engine, title="B", severity="minor", affects=["raido"], now=NOW)
    await incidents.declare(engine, title="C", severity="minor", affects=["radio"], now=NOW)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": "bad key", "name": "X"}, "key: 'bad key' is not a service key"),
        ({"key": "x", "name": "  "}, "name: must not be empty"),
        ({"key": "x", "name": "a\nb"}, "name: line breaks"),
        ({"key": "x", "name": "X" * 201}, "name: at most 200"),
        ({"key": "x", "name": "X", "description": "d" * 2001}, "description: at most 2000"),
        ({"key": "x", "name": "X", "position": -1}, "position: between 0"),
    ],
)
async def test_bad_input_names_the_field(
    engine: AsyncEngine, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        await catalog.add(engine, now=NOW, **fields)  # type: ignore[arg-type]


async def test_a_duplicate_key_and_an_unknown_status_are_refused(engine: AsyncEngine) -> None:
    await catalog.add(engine, key="radio", name="Satellite radio", now=NOW)
    with pytest.raises(InputError, match="key: service 'radio' already exists"):
        await catalog.add(engine, key="radio", name="Again", now=NOW)
    with pytest.raises(InputError, match="status: 'broken' is not one of"):
        await catalog.override(engine, "radio", "broken", now=NOW)
