"""A served app (over ASGI) with a catalog of services and a status page that re-checks
the database on every request (status_refresh = 0), so that tests wait for a change by
polling the page itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ApiEnv, api_environment

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
    fetch: Callable[[], object], check: Callable[[httpx.Response], bool], what: str
) -> httpx.Response:
    """Fetch until `check` holds; fails after a generous deadline saying what it waited for."""
    deadline = time.monotonic() + 20
    while True:
        response = await fetch()  # type: ignore[misc]
        assert isinstance(response, httpx.Response)
        if check(response):
            return response
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {response.text[:300]}"
        await asyncio.sleep(0.02)
