"""Fixtures shared by every layer: databases on both stores, and the local peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.db import create_engine
from notifier.store.migrate import upgrade
from tests.databases import (
    drop_shared_database,
    postgres_database,
    shared_migrated_database,
    sqlite_url,
)
from tests.peers import (
    email_settings,
    sms_settings,
    smtp_sink,
    twilio_standin,
    whatsapp_settings,
)

__all__ = ["email_settings", "sms_settings", "smtp_sink", "twilio_standin", "whatsapp_settings"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        async with postgres_database() as url:
            yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on a fresh database, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        eng = create_engine(sqlite_url(tmp_path))
        await upgrade(eng)
        try:
            yield eng
        finally:
            await eng.dispose()
        return
    eng = create_engine(await shared_migrated_database())
    try:
        yield eng
    finally:
        await eng.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    asyncio.run(drop_shared_database())
