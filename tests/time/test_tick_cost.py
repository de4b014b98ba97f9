"""A scheduler tick reads only what is due: the claim uses the (status, due_at) index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.schedules_table import schedules

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# The shape of the claim in notifier.store.schedules.claim_due.
CLAIM = (
    "SELECT id FROM schedules WHERE status = 'pending' AND due_at <= {now} "
    "ORDER BY due_at, id LIMIT 50"
)


async def test_the_due_claim_is_an_index_range_scan(engine: AsyncEngine) -> None:
    rows = [
        {
            "kind": "followup",
            "name": "still-working",
            "subject_type": "incident",
            "subject_id": str(i),
            "due_at": NOW + timedelta(minutes=i - 5),
            "fired": 0,
            "status": "pending",
            "payload": {},
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(5000)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(schedules), rows)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE schedules"))
            plan = await conn.execute(
                text("EXPLAIN " + CLAIM.format(now="'2026-03-01T12:00:00+00:00'"))
            )
        else:
            plan = await conn.execute(
                text("EXPLAIN QUERY PLAN " + CLAIM.format(now="'2026-03-01 12:00:00.000000'"))
            )
        lines = " ".join(str(r[-1]) for r in plan)
    assert "ix_schedules_due" in lines, lines
    if engine.dialect.name == "postgresql":
        assert "Index" in lines and "Seq Scan" not in lines, lines
    else:
        assert "SEARCH schedules USING" in lines and "INDEX ix_schedules_due" in lines, lines
