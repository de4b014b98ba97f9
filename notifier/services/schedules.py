"""Follow-ups waiting for a subject (an incident's reminders, its ETA watchdog), as the
faces show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import schedules as store


async def of_subject(engine: AsyncEngine, subject_type: str, subject_id: str) -> list[Row[Any]]:
    """Every schedule row of the subject, oldest first."""
    async with engine.connect() as conn:
        return await store.for_subject(conn, subject_type, subject_id)
