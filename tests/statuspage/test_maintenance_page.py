"""Planned maintenance over the API and on the status page: upcoming, then running (its
services under maintenance), then over; in the page, the v2 JSON and the feeds."""

from __future__ import annotations

from datetime import timedelta

import feedparser

from tests.api.conftest import ApiEnv
from tests.statuspage.conftest import until

V2 = "/status/api/v2"


async def test_upcoming_running_and_completed(status_env: ApiEnv) -> None:
    env = status_env
    now = env.clock.now()
    window = {
        "services": ["satellite-radio"],
        "starts": (now + timedelta(days=2)).isoformat(),
        "ends": (now + timedelta(days=2, hours=2)).isoformat(),
        "title": "Uplink upgrade",
        "message": "Radios may go silent.",
    }
    async with await env.client("ops") as ops, await env.client(None) as public:
        created = await ops.post("/api/maintenance", json=window)
        assert created.status_code == 201, created.text
        maintenance_id = created.json()["id"]

        page = await until(
            lambda: public.get("/status"), lambda r: "Uplink upgrade" in r.text, "the notice"
        )
        assert "Planned maintenance" in page.text and "All systems operational" in page.text
        upcoming = (await public.get(f"{V2}/scheduled-maintenances/upcoming.json")).json()
        (item,) = upcoming["scheduled_maintenances"]
        assert item["status"] == "scheduled" and item["impact"] == "maintenance"
        assert item["scheduled_for"] == window["starts"].replace("+00:00", "+00:00")
        assert [c["id"] for c in item["components"]] == ["satellite-radio"]
        assert (await public.get(f"{V2}/scheduled-maintenances/active.json")).json()[
            "scheduled_maintenances"
        ] == []

        assert (await ops.post(f"/api/maintenance/{maintenance_id}/start")).status_code == 200
        page = await until(
            lambda: public.get("/status"),
            lambda r: "Maintenance in progress" in r.text,
            "the running maintenance",
        )
        assert 'class="banner ind-maintenance"' in page.text
        radio = page.text.split('data-service="satellite-radio"')[1]
        assert 'data-status="under_maintenance"' in radio.split("</li>")[0]
        summary = (await public.get(f"{V2}/summary.json")).json()
        assert summary["status"]["indicator"] == "none"
        assert [m["status"] for m in summary["scheduled_maintenances"]] == ["in_progress"]
        components = {c["id"]: c["status"] for c in summary["components"]}
        assert components["satellite-radio"] == "under_maintenance"
        listed = (await ops.get("/api/services/satellite-radio")).json()
        assert listed["status"] == "under_maintenance"

        done = await ops.post(f"/api/maintenance/{maintenance_id}/complete", json={})
        assert done.status_code == 200 and done.json()["status"] == "completed"
        again = await ops.post(f"/api/maintenance/{maintenance_id}/complete", json={})
        assert again.status_code == 409
        all_of_them = await until(
            lambda: public.get(f"{V2}/scheduled-maintenances.json"),
            lambda r: r.json()["scheduled_maintenances"][0]["status"] == "completed",
            "the completed maintenance",
        )
        assert all_of_them.json()["scheduled_maintenances"][0]["resolved_at"] is not None
        summary = (await public.get(f"{V2}/summary.json")).json()
        assert summary["scheduled_maintenances"] == []
        feed = feedparser.parse((await public.get("/status/feed.atom")).content)
        assert not feed.bozo and [e.title for e in feed.entries] == ["Uplink upgrade"]


async def test_bad_input_is_422_naming_the_field_and_roles_apply(status_env: ApiEnv) -> None:
    env = status_env
    now = env.clock.now()
    good = {
        "services": ["satellite-radio"],
        "starts": (now + timedelta(days=1)).isoformat(),
        "ends": (now + timedelta(days=1, hours=1)).isoformat(),
        "message": "m",
    }
    cases = [
        ({"ends": now.isoformat()}, "ends"),
        ({"starts": (now - timedelta(hours=1)).isoformat()}, "starts"),
        ({"services": []}, "services"),
        ({"services": ["tv"]}, "affects"),
        ({"starts": "2026-03-03T10:00:00"}, "starts"),  # no zone
        ({"message": ""}, "message"),
        ({"colour": "red"}, "colour"),
    ]
    async with await env.client("ops") as ops:
        for change, field in cases:
            response = await ops.post("/api/maintenance", json=good | change)
            assert response.status_code == 422, (change, response.text)
            assert field in response.text, (change, response.text)
        assert (await ops.post("/api/maintenance/99/start")).status_code == 404
    async with await env.client("viewer") as viewer:
        assert (await viewer.post("/api/maintenance", json=good)).status_code == 403
        assert (await viewer.get("/api/maintenance")).status_code == 200
