"""The status page's fast path: every published address answers a plain GET without going
through the router, with the same bytes and headers as the route gives (reached with a
query string, which the fast path leaves to the router)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRouter

from notifier.api.status_fast_path import published_routes
from notifier.web.status_published import PUBLISHED, Publication
from tests.api.conftest import ApiEnv
from tests.statuspage.conftest import until

# Every address the status page publishes at a fixed path: a new one must be added here
# and so gets checked below.
EXPECTED = {
    "/status",
    "/status/feed.atom",
    "/status/feed.rss",
    *(
        f"/status/api/v2/{name}.json"
        for name in (
            "summary",
            "status",
            "components",
            "incidents",
            "incidents/unresolved",
            "scheduled-maintenances",
            "scheduled-maintenances/upcoming",
            "scheduled-maintenances/active",
        )
    ),
}


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of the requests that reached the router."""
    seen: list[str] = []
    original = APIRouter.__call__

    async def counting(self: APIRouter, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(APIRouter, "__call__", counting)
    yield seen


async def _with_an_incident(env: ApiEnv) -> None:
    async with await env.client("ops") as ops:
        response = await ops.post(
            "/api/incidents",
            json={
                "title": "Radio <down> & out",
                "severity": "major",
                "affects": ["satellite-radio"],
                "message": "On it.",
            },
        )
    assert response.status_code == 201, response.text
    async with await env.client(None) as public:
        await until(
            lambda: public.get("/status/api/v2/status.json?wait"),
            lambda r: r.json()["status"]["indicator"] == "major",
            "the page to show the incident",
        )


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted(response.headers.multi_items())


def test_the_table_is_every_published_address() -> None:
    assert set(PUBLISHED) == EXPECTED


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_every_published_address_answers_as_the_route_does(
    status_env: ApiEnv, routed: list[str], language: str
) -> None:
    await _with_an_incident(status_env)
    async with await status_env.client(None) as public:
        public.headers["Accept-Language"] = language
        for path in sorted(PUBLISHED):
            routed.clear()
            fast = await public.get(path)
            assert routed == [], f"{path}: a plain GET reached the router"
            slow = await public.get(f"{path}?via=router")
            assert routed == [path], f"{path}: with a query string it should be routed"
            assert fast.status_code == slow.status_code == 200, path
            assert fast.content == slow.content, path
            assert _headers(fast) == _headers(slow), path
            assert fast.headers["etag"] and fast.headers["cache-control"].startswith("public")
            assert fast.headers["x-frame-options"] == "DENY", path
            # A reader that has it gets a 304, the same way on both paths.
            tag = {"If-None-Match": fast.headers["etag"]}
            fast_304 = await public.get(path, headers=tag)
            slow_304 = await public.get(f"{path}?via=router", headers=tag)
            assert fast_304.status_code == slow_304.status_code == 304, path
            assert fast_304.content == b"", path
            assert _headers(fast_304) == _headers(slow_304), path
        page = (await public.get("/status")).text
    assert ("Panne partielle" if language == "fr" else "Partial outage") in page


async def test_a_body_or_another_method_goes_the_long_way(
    status_env: ApiEnv, routed: list[str]
) -> None:
    limit = status_env.app.settings.api.max_body_bytes
    async with await status_env.client(None) as public:
        # A GET carrying a body is judged by the size limit, as on every route.
        too_big = await public.request(
            "GET", "/status/api/v2/summary.json", content=b"x" * (limit + 1)
        )
        assert too_big.status_code == 413
        routed.clear()
        head = await public.head("/status/api/v2/summary.json")
        assert routed == ["/status/api/v2/summary.json"]
        assert head.status_code == 405
        post = await public.post("/status", content=b"{}")
        assert post.status_code == 405


async def test_fast_answers_are_in_the_access_log(
    status_env: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="notifier.api.access"):
        async with await status_env.client(None) as public:
            assert (await public.get("/status/api/v2/summary.json")).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "notifier.api.access"]
    assert any(line.startswith("GET /status/api/v2/summary.json 200 ") for line in lines), lines


async def test_an_address_not_open_to_everyone_cannot_be_published(
    status_env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path checks no role: publishing an address the table keeps for a role, or
    # one without a route, stops the app from starting.
    sample = PUBLISHED["/status"]
    for path, why in (
        ("/api/incidents", "not open to everyone"),
        ("/status/nowhere", "no GET route"),
    ):
        monkeypatch.setitem(
            PUBLISHED, path, Publication(path, "text/plain", sample.render, "locale")
        )
        with pytest.raises(RuntimeError, match=why):
            published_routes(status_env.api)
        monkeypatch.delitem(PUBLISHED, path)


async def test_until_the_first_snapshot_is_built_the_route_answers(
    status_env: ApiEnv, routed: list[str]
) -> None:
    # The first read of the database gets the route's error handling; after it, memory.
    async with await status_env.client(None) as public:
        first = await public.get("/status/api/v2/status.json")
        second = await public.get("/status/api/v2/status.json")
    assert first.status_code == second.status_code == 200
    assert routed == ["/status/api/v2/status.json"]
    assert first.content == second.content
