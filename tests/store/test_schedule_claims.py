"""Claims on schedules being fired: renewed while the firing goes on, given back at once by
a worker that stops. On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import schedules as schedule_store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=6)


async def _create(engine: AsyncEngine, subject_id: str) -> int:
    async with engine.begin() as conn:
        return await schedule_store.create(
            conn,
            kind="followup",
            name="still-working",
            subject_type="incident",
            subject_id=subject_id,
            due_at=NOW,
            now=NOW,
        )


async def _claim(engine: AsyncEngine, worker: str, now: datetime) -> list[int]:
    async with engine.begin() as conn:
        claimed = await schedule_store.claim_due(conn, worker=worker, now=now, lease=LEASE)
    return [s.id for s in claimed]


async def test_a_renewed_claim_outlives_its_first_lease(engine: AsyncEngine) -> None:
    first = await _create(engine, "1")
    done = await _create(engine, "2")
    assert await _claim(engine, "w1", NOW) == [first, done]
    async with engine.begin() as conn:
        await schedule_store.finish(conn, done, status="done", now=NOW)
        held = await schedule_store.renew_claims(
            conn, worker="w1", ids=[first, done], until=NOW + 2 * LEASE
        )
    assert held == {first}  # a finished schedule is not claimed again by a renewal
    assert await _claim(engine, "w2", NOW + LEASE + timedelta(seconds=1)) == []
    assert await _claim(engine, "w2", NOW + 2 * LEASE + timedelta(seconds=1)) == [first]
    async with engine.begin() as conn:
        held = await schedule_store.renew_claims(
            conn, worker="w1", ids=[first], until=NOW + 3 * LEASE
        )
    assert held == set()  # w2 holds it now


async def test_a_stopping_worker_gives_its_schedules_back_at_once(engine: AsyncEngine) -> None:
    mine = await _create(engine, "1")
    assert await _claim(engine, "w1", NOW) == [mine]
    assert await _claim(engine, "w2", NOW) == []
    async with engine.begin() as conn:
        assert await schedule_store.release_claimed(conn, "w2", NOW) == 0
        assert await schedule_store.release_claimed(conn, "w1", NOW) == 1
    assert await _claim(engine, "w2", NOW) == [mine]  # before any lease ran out
