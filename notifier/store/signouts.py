"""Console sessions ended by signing out (see `web.session`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.store.api_tables import console_signouts
from notifier.store.db import dialect_insert


async def sign_out(
    conn: AsyncConnection, session_hash: str, *, expires_at: datetime, now: datetime
) -> None:
    # Sign-outs past their cookie's expiry prove nothing any more: dropped on the way.
    await conn.execute(delete(console_signouts).where(console_signouts.c.expires_at < now))
    statement = dialect_insert(conn.dialect.name)(console_signouts).values(
        session_hash=session_hash, expires_at=expires_at
    )
    await conn.execute(statement.on_conflict_do_nothing(index_elements=["session_hash"]))


async def signed_out(conn: AsyncConnection, session_hash: str) -> bool:
    query = select(console_signouts.c.session_hash).where(
        console_signouts.c.session_hash == session_hash
    )
    return (await conn.execute(query)).first() is not None
