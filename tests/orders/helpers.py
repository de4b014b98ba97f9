"""Shared by the order tests: customers to order things, counting rows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import Customer
from notifier.store.customers import upsert_customers

NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


async def add_customers(engine: AsyncEngine, *ids: str, timezone: str = "America/New_York") -> None:
    customers = [
        Customer(i, f"Customer {i}", f"{i}@example.com", None, "en", timezone) for i in ids
    ]
    async with engine.begin() as conn:
        await upsert_customers(conn, customers, NOW)


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
