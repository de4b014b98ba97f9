"""A served app (over ASGI) with a catalog of services and a status page that re-checks
the database on every request (status_refresh = 0), so that tests wait for a change by
polling the page itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ApiEnv, api_environment
from tests.waiting import wait_for

SERVICES = [
    {"key": "satellite-radio", "name": "Satellite radio", "group": "Listening", "position": 1},
    {"key": "streaming", "name": "Online streaming", "group": "Listening", "position": 2},
    {"key": "billing", "name": "Billing", "description": "Invoices and payments"},
]


@pytest.fixture
async def status_env(tmp_path: Path) -> AsyncIterator[ApiEnv]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'status.db'}"
    async with api_environment(url, status_refresh=0) as env:
        async with await env.client("ops") as ops:
            for service in SERVICES:
                response = await ops.post("/api/services", json=service)
                assert response.status_code == 201, response.text
        yield env


async def until(
    fetch: Callable[[], Awaitable[httpx.Response]],
    check: Callable[[httpx.Response], bool],
    what: str,
) -> httpx.Response:
    """Fetch until `check` holds (the page refreshes from the database in the background)."""
    seen: list[httpx.Response] = []

    async def probe() -> httpx.Response | None:
        response = await fetch()
        seen[:] = [response]
        return response if check(response) else None

    return await wait_for(probe, what=lambda: f"{what} (last answer: {seen[0].text[:300]!r})")
