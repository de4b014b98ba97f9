"""Bad input is 422 naming the field, unknown ids 404, illegal moves 409, no database 503."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from notifier.api import create_app
from notifier.config import Settings
from notifier.runtime.app import App
from tests.api.conftest import BASE, ApiEnv

ROOT = Path(__file__).resolve().parents[2]


async def test_bad_bodies_are_422_naming_the_field(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("admin") as c:
        cases = {
            ("severity",): {"title": "x", "severity": "huge", "affects": ["a"]},
            ("affects",): {"title": "x", "severity": "minor", "affects": []},
            ("title",): {"title": "a\x00b", "severity": "minor", "affects": ["a"]},
            ("eta",): {"title": "x", "severity": "minor", "affects": ["a"], "eta": "tomorrow"},
            ("surprise",): {"title": "x", "severity": "minor", "affects": ["a"], "surprise": 1},
        }
        for field, body in cases.items():
            response = await c.post("/api/incidents", json=body)
            assert response.status_code == 422, body
            locs = [tuple(e["loc"][1:2]) for e in response.json()["detail"]]
            assert field in locs, (body, response.json())
        # A field the service checks (in the past) and one only the domain knows (phone).
        past = await c.post(
            "/api/incidents",
            json={"title": "x", "severity": "minor", "affects": ["a"], "eta": "2020-01-01T00:00Z"},
        )
        assert past.json()["detail"][0]["loc"] == ["body", "eta"]
        phone = await c.post("/api/customers", json={"id": "x", "name": "X", "phone": "12"})
        assert phone.status_code == 422
        assert phone.json()["detail"][0]["loc"] == ["body", "phone"]


async def test_unknown_ids_are_404_and_illegal_moves_409(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("admin") as c:
        assert (await c.get("/api/incidents/4242")).status_code == 404
        assert (await c.get("/api/incidents/4242/report")).status_code == 404
        assert (await c.get("/api/customers/nobody")).status_code == 404
        assert (await c.patch("/api/customers/nobody", json={"name": "N"})).status_code == 404
        assert (await c.get("/api/deliveries/99")).status_code == 404
        assert (await c.get("/api/templates/nothing/sms/en")).status_code == 404
        contact = {"customer_id": "nobody", "channel": "phone", "at": "2026-03-01T22:00:00Z"}
        assert (await c.post("/api/contacts", json=contact)).status_code == 404
        created = await c.post(
            "/api/incidents", json={"title": "x", "severity": "minor", "affects": ["a"]}
        )
        incident = created.json()["id"]
        resolved = await c.post(f"/api/incidents/{incident}/resolve", json={"cause": "a bug"})
        assert resolved.status_code == 200
        again = await c.post(f"/api/incidents/{incident}/updates", json={"message": "m"})
        assert again.status_code == 409
        assert "cannot go from 'resolved'" in again.json()["detail"]
        customer = {"id": "dup", "name": "Dup"}
        assert (await c.post("/api/customers", json=customer)).status_code == 201
        assert (await c.post("/api/customers", json=customer)).status_code == 409


async def test_no_database_is_503_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        # Nothing listens on port 1: every connection is refused at once.
        database={"url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},
        paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
    )
    app = await App.open(settings, migrate=False)
    api = create_app(app, run_worker=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(api), base_url=BASE) as c:
            health = await c.get("/healthz")
            assert health.status_code == 503
            response = await c.get(
                "/api/incidents", headers={"Authorization": "Bearer ntf_" + "k" * 43}
            )
    finally:
        await app.close()
    assert response.status_code == 503
    assert response.json() == {"detail": "the database is unavailable; try again shortly"}
    assert "Traceback" not in caplog.text
    assert [r.levelno for r in caplog.records if r.name == "notifier.api.errors"] == [
        logging.WARNING
    ]
