"""Console sessions ended by signing out: kept until their cookie would have expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import signouts as store


async def sign_out(
    engine: AsyncEngine, session_id: str, *, expires_at: datetime, now: datetime
) -> None:
    async with engine.begin() as conn:
        await store.sign_out(conn, session_id, expires_at=expires_at, now=now)


async def signed_out(engine: AsyncEngine, session_id: str) -> bool:
    async with engine.connect() as conn:
        return await store.signed_out(conn, session_id)
