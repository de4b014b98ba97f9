"""A dry run forecasts exactly what the real declaration then does, and writes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from notifier.domain.messages import ChannelName
from notifier.runtime.worker import Worker
from notifier.store.customers import set_opt_out
from notifier.store.tables import events, incidents, outbox
from tests.api.conftest import ApiEnv

DECLARE = {"title": "Signal lost", "severity": "major", "affects": ["satellite-radio"]}


async def _rows(env: ApiEnv, table: object) -> int:
    async with env.app.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_the_forecast_matches_the_fan_out(env: ApiEnv) -> None:
    await env.load_customers()
    async with env.app.engine.begin() as conn:  # Zoé declined incident texts only
        await set_opt_out(
            conn,
            "c-fr",
            ChannelName.SMS,
            "preference page",
            datetime.now().astimezone(),
            "incidents",
        )
    async with await env.client("ops") as c:
        response = await c.post("/api/incidents", params={"dry_run": "true"}, json=DECLARE)
    assert response.status_code == 200, response.text
    forecast = response.json()
    assert forecast["dry_run"] is True
    assert forecast["affected"] == 5
    assert forecast["rules"] == ["incident-declared-email", "incident-declared-sms"]
    timings = {name: c.pop("timing") for name, c in forecast["channels"].items()}
    assert forecast["channels"]["email"] == {"send": 5, "suppressed": 0, "suppressed_by_reason": {}}
    assert forecast["channels"]["sms"] == {
        "send": 2,
        "suppressed": 3,
        "suppressed_by_reason": {"no phone number": 1, "opted out of sms": 2},
    }
    # No capacity set in these settings: a count, and no promise of a time.
    assert timings["email"]["messages"] == 5 and timings["email"]["done_by"] is None
    assert timings["sms"]["summary"].startswith("SMS: ")
    assert "not paced" in timings["sms"]["summary"]
    for table in (incidents, events, outbox):
        assert await _rows(env, table) == 0

    async with await env.client("ops") as c:
        declared = await c.post("/api/incidents", json=DECLARE)
    await Worker(env.app).run_until_idle(max_wait=60)
    async with await env.client("viewer") as c:
        report = (await c.get(f"/api/incidents/{declared.json()['id']}/report")).json()
    for channel, expected in forecast["channels"].items():
        actual = report["channels"][channel]
        assert actual["planned"] == expected["send"]
        assert actual["suppressed_by_reason"] == expected["suppressed_by_reason"]
    assert report["affected"] == forecast["affected"]


async def test_a_minor_incident_forecasts_no_sms_and_bad_input_is_422(sqlite_env: ApiEnv) -> None:
    env = sqlite_env
    await env.load_customers()
    async with await env.client("ops") as c:
        minor = await c.post("/api/incidents?dry_run=true", json={**DECLARE, "severity": "minor"})
        bad = await c.post(
            "/api/incidents?dry_run=true", json={**DECLARE, "affects": ["no spaces"]}
        )
    assert minor.json()["channels"]["sms"]["send"] == 0
    assert minor.json()["rules"] == ["incident-declared-email"]
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "affects"]
