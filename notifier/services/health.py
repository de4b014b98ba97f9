"""How the service is doing, for /healthz and /metrics: does the database answer, and
what the queues hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.outbox import queries as outbox_queries
from notifier.store import schedules


async def database_problem(engine: AsyncEngine) -> str | None:
    """None when the database answers a query; else the kind of error it gave."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach it is the answer, not an error
        return type(exc).__name__
    return None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    messages: dict[tuple[str, str], int]  # (channel, status) -> count
    oldest_message: datetime | None  # the longest-waiting message due by now
    oldest_schedule: datetime | None  # the longest-waiting follow-up due by now
    latencies: list[float]  # seconds from planned to sent, latest sends, ascending
    by_provider: dict[tuple[str, str], int]  # (channel, provider) -> messages it carried


async def queue_figures(engine: AsyncEngine, now: datetime) -> QueueFigures:
    async with engine.connect() as conn:
        messages = await outbox_queries.count_by_status(conn)
        oldest_message = await outbox_queries.oldest_due(conn, now)
        oldest_schedule = await schedules.oldest_due(conn, now)
        latencies = sorted(await outbox_queries.recent_send_latencies(conn))
        by_provider = await outbox_queries.count_sent_by_provider(conn)
    return QueueFigures(messages, oldest_message, oldest_schedule, latencies, by_provider)
