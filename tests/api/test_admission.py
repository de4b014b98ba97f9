"""Above `api.max_in_flight`, requests are turned away at once with 503, and write
nothing; health checks still answer; the requests already taken finish."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from notifier.api.admission import Admission
from notifier.store.tables import events
from tests.api.conftest import api_environment
from tests.waiting import GENEROUS, wait_for


def _in_flight(api: FastAPI) -> int:
    """Requests the admission middleware has let in, found down the middleware stack
    Starlette builds at the first request (0 before)."""
    layer: object = api.middleware_stack
    while layer is not None and not isinstance(layer, Admission):
        layer = getattr(layer, "app", None)
    return layer.in_flight if isinstance(layer, Admission) else 0


async def test_a_busy_server_answers_503_at_once_and_writes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "api.db"
    async with api_environment(f"sqlite+aiosqlite:///{database}", max_in_flight=1) as env:
        await env.load_customers()
        ops = await env.client("ops")
        # Another process holds the write lock: the first request waits for it, in flight.
        other = sqlite3.connect(database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        first = asyncio.create_task(
            ops.post("/api/orders/o-1/events", json={"status": "placed", "customer_id": "c-en"})
        )
        await wait_for(lambda: _in_flight(env.api) == 1, what="the first request admitted")
        assert not first.done()

        turned_away = await asyncio.wait_for(
            ops.post("/api/orders/o-2/events", json={"status": "placed", "customer_id": "c-en"}),
            GENEROUS,  # were it queued behind the first, it would wait for the lock
        )
        assert turned_away.status_code == 503
        assert turned_away.headers["retry-after"] == "1"
        assert "busy" in turned_away.json()["detail"]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(env.api), base_url="http://test"
        ) as anyone:
            health = await asyncio.wait_for(anyone.get("/healthz"), GENEROUS)
        assert health.status_code == 200  # a monitor does not read "busy" as "down"

        other.execute("COMMIT")
        other.close()
        assert (await asyncio.wait_for(first, GENEROUS)).status_code == 201
        after = await ops.post(
            "/api/orders/o-3/events", json={"status": "placed", "customer_id": "c-en"}
        )
        assert after.status_code == 201  # room again once the first is done
        await ops.aclose()
        async with env.app.engine.connect() as conn:
            subjects = (await conn.execute(select(events.c.subject_id))).scalars().all()
            assert sorted(subjects) == ["o-1", "o-3"]  # nothing of the one turned away
            assert (await conn.execute(select(func.count()).select_from(events))).scalar() == 2
