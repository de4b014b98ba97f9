"""PostgreSQL: a statement the server never answers ends in TimeoutError after
`database.statement_timeout`, which the worker treats as an outage (it waits and retries),
instead of stalling for good; the pool keeps working afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from notifier.config import PathsSettings, Settings
from notifier.runtime.app import App
from notifier.store.db import unavailable
from notifier.store.tables import events
from tests.databases import postgres_database
from tests.harness import ROOT

pytestmark = pytest.mark.postgres


async def test_a_statement_past_the_timeout_is_an_outage_not_a_stall() -> None:
    async with postgres_database() as url:
        settings = Settings(
            database={"url": url, "statement_timeout": 0.5},
            paths=PathsSettings(rules=ROOT / "rules", templates=ROOT / "templates"),
        )
        app = await App.open(settings)  # migrates a fresh database: not limited by it
        try:
            with pytest.raises(TimeoutError) as caught:
                async with app.engine.connect() as conn:
                    # Stands in for a server that stopped answering: far past the timeout,
                    # so only the timeout can end it before the test's own deadline.
                    await conn.execute(text("SELECT pg_sleep(120)"))
            assert unavailable(caught.value)
            async with app.engine.connect() as conn:  # the next statement works
                count = (await conn.execute(select(func.count()).select_from(events))).scalar()
            assert count == 0
        finally:
            await app.close()
