"""The API takes the operator's free text as a string or as {locale: text}."""

from __future__ import annotations

from tests.api.conftest import ApiEnv


async def test_the_api_takes_a_locale_map_beside_plain_strings(env: ApiEnv) -> None:
    async with await env.client("ops") as c:
        made = await c.post(
            "/api/incidents",
            json={
                "title": "T",
                "severity": "major",
                "affects": ["x"],
                "message": {"en": "Down", "fr": "En panne"},
                "workaround": "Use the app",
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["message"] == "Down"
        assert made.json()["translations"] == {"message": {"fr": "En panne"}}
        iid = made.json()["id"]
        missing = await c.post(
            f"/api/incidents/{iid}/updates", json={"message": {"fr": "Toujours en panne"}}
        )
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["body", "message"]
        assert "the default locale" in missing.json()["detail"][0]["msg"]
        too_many = await c.post(
            f"/api/incidents/{iid}/updates",
            json={"message": {f"a{chr(97 + n)}": "x" for n in range(21)}},
        )
        assert too_many.status_code == 422
        done = await c.post(
            f"/api/incidents/{iid}/resolve", json={"cause": {"en": "Power", "fr": "Courant"}}
        )
        assert done.status_code == 200, done.text
        shown = (await c.get(f"/api/incidents/{iid}")).json()
        assert shown["updates"][-1]["translations"] == {"cause": {"fr": "Courant"}}
