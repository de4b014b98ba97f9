"""/api/services over HTTP: add, list with status, override, edit, remove; bad input is a
422 naming the field, an unknown service a 404."""

from __future__ import annotations

from tests.api.conftest import ApiEnv


async def test_add_declare_override_edit_remove(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("ops") as c:
        added = await c.post(
            "/api/services", json={"key": "tv", "name": "Television", "group": "Home"}
        )
        assert added.status_code == 201, added.text
        assert added.json()["status"] == "operational"
        declared = await c.post(
            "/api/incidents", json={"title": "Down", "severity": "major", "affects": ["tv"]}
        )
        assert declared.status_code == 201
        listed = (await c.get("/api/services")).json()["services"]
        assert [(s["key"], s["status"]) for s in listed] == [("tv", "partial_outage")]
        overridden = await c.put("/api/services/tv/override", json={"status": "major_outage"})
        assert overridden.json()["status"] == "major_outage"
        cleared = await c.put("/api/services/tv/override", json={"status": None})
        assert cleared.json()["status"] == "partial_outage"
        edited = await c.patch("/api/services/tv", json={"position": 3, "description": "Cable"})
        assert edited.json()["position"] == 3 and edited.json()["description"] == "Cable"
        assert (await c.delete("/api/services/tv")).status_code == 204
        assert (await c.get("/api/services/tv")).status_code == 404


async def test_bad_input_is_422_naming_the_field(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("ops") as c:
        await c.post("/api/services", json={"key": "tv", "name": "Television"})
        cases = [
            ("post", "/api/services", {"key": "tv", "name": "Again"}, "key"),
            ("post", "/api/services", {"key": "a b", "name": "X"}, "key"),
            ("post", "/api/services", {"key": "x", "name": "X" * 201}, "name"),
            ("post", "/api/services", {"key": "x", "name": "X", "position": -1}, "position"),
            ("post", "/api/services", {"key": "x", "name": "X", "colour": "red"}, "colour"),
            ("put", "/api/services/tv/override", {"status": "on-fire"}, "status"),
            (
                "post",
                "/api/incidents",
                {"title": "Down", "severity": "minor", "affects": ["vt"]},
                "affects",
            ),
        ]
        for method, path, body, field in cases:
            response = await c.request(method, path, json=body)
            assert response.status_code == 422, (path, body, response.text)
            assert field in response.text, (path, body, response.text)
        assert (
            await c.put("/api/services/nope/override", json={"status": None})
        ).status_code == 404
