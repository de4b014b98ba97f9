"""/status/api/v2 read as a Statuspage client reads it, and the Atom and RSS feeds read by
a real feed parser (feedparser)."""

from __future__ import annotations

from typing import Any

import feedparser
import httpx

from tests.api.conftest import BASE, ApiEnv
from tests.statuspage.conftest import until

V2 = "/status/api/v2"
COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}


async def _ops(env: ApiEnv, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with await env.client("ops") as ops:
        response = await ops.request(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()
    return data


def _check_page(page: dict[str, Any]) -> None:
    assert set(page) >= {"id", "name", "url", "time_zone", "updated_at"}
    assert page["url"] == f"{BASE}/status"


async def test_every_document_in_the_v2_shape(status_env: ApiEnv) -> None:
    env = status_env
    async with await env.client(None) as public:
        status = (await public.get(f"{V2}/status.json")).json()
        assert status["status"] == {"indicator": "none", "description": "All systems operational"}
        await _ops(
            env,
            "POST",
            "/api/incidents",
            {
                "title": "Radio <down> & out",
                "severity": "major",
                "affects": ["satellite-radio"],
                "message": "On it.",
            },
        )
        await _ops(
            env,
            "POST",
            "/api/incidents/1/updates",
            {"message": "Fix deployed", "status": "monitoring"},
        )
        summary = (
            await until(
                lambda: public.get(f"{V2}/summary.json"),
                lambda r: r.json()["status"]["indicator"] == "major",
                "the indicator to turn major",
            )
        ).json()
        for name in (
            "summary",
            "status",
            "components",
            "incidents",
            "incidents/unresolved",
            "scheduled-maintenances",
            "scheduled-maintenances/upcoming",
            "scheduled-maintenances/active",
        ):
            response = await public.get(f"{V2}/{name}.json")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == "application/json", name
            assert response.headers["access-control-allow-origin"] == "*"
            _check_page(response.json()["page"])

    assert set(summary) == {"page", "status", "components", "incidents", "scheduled_maintenances"}
    components = {c["id"]: c for c in summary["components"]}
    for c in components.values():
        assert c["status"] in COMPONENT_STATUSES
        assert {"name", "position", "group_id", "only_show_if_degraded", "created_at"} <= set(c)
    assert components["satellite-radio"]["status"] == "partial_outage"
    assert components["satellite-radio"]["group_id"] == "group:Listening"
    group = components["group:Listening"]
    assert group["group"] is True and group["status"] == "partial_outage"
    assert group["components"] == ["satellite-radio", "streaming"]
    assert components["billing"]["group_id"] is None

    (incident,) = summary["incidents"]
    assert incident["id"] == "1" and incident["name"] == "Radio <down> & out"
    assert incident["status"] == "monitoring" and incident["impact"] == "major"
    assert incident["shortlink"] == f"{BASE}/status/incidents/1"
    assert incident["monitoring_at"] is not None and incident["resolved_at"] is None
    assert [u["status"] for u in incident["incident_updates"]] == ["monitoring", "investigating"]
    assert [u["body"] for u in incident["incident_updates"]] == ["Fix deployed", "On it."]
    assert [c["id"] for c in incident["components"]] == ["satellite-radio"]


async def test_resolved_incidents_leave_unresolved_but_stay_in_incidents(
    status_env: ApiEnv,
) -> None:
    env = status_env
    body = {"title": "Billing slow", "severity": "minor", "affects": ["billing"]}
    await _ops(env, "POST", "/api/incidents", body)
    await _ops(env, "POST", "/api/incidents/1/resolve", {"cause": "A full disk"})
    async with await env.client(None) as public:
        unresolved = await until(
            lambda: public.get(f"{V2}/incidents/unresolved.json"),
            lambda r: r.json()["incidents"] == [],
            "no unresolved incident",
        )
        assert unresolved.json()["incidents"] == []
        recent = (await public.get(f"{V2}/incidents.json")).json()["incidents"]
        assert [(i["id"], i["status"]) for i in recent] == [("1", "resolved")]
        assert recent[0]["incident_updates"][0]["body"] == "Cause: A full disk"


async def test_the_feeds_read_by_a_feed_parser(status_env: ApiEnv) -> None:
    env = status_env
    await _ops(
        env,
        "POST",
        "/api/incidents",
        {"title": "Radio <down> & out", "severity": "major", "affects": ["satellite-radio"]},
    )
    await _ops(env, "POST", "/api/incidents/1/updates", {"message": "Engineers <on> site"})
    async with await env.client(None) as public:

        def has_update(r: httpx.Response) -> bool:
            return "Engineers" in r.text

        atom = await until(lambda: public.get("/status/feed.atom"), has_update, "the Atom feed")
        rss = await until(lambda: public.get("/status/feed.rss"), has_update, "the RSS feed")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert rss.headers["content-type"].startswith("application/rss+xml")
    for response, version in ((atom, "atom10"), (rss, "rss20")):
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.version == version
        assert parsed.feed.title == "Example Co status"
        (entry,) = parsed.entries
        assert entry.title == "Radio <down> & out"
        assert entry.link == f"{BASE}/status/incidents/1"
        assert "Engineers &lt;on&gt; site" in entry.summary
        stamp = "updated_parsed" if version == "atom10" else "published_parsed"
        assert entry.get(stamp) is not None, stamp
