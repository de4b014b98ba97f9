"""supersede: newer news replaces what still waits about a subject, for the page's customers
only, and says why. SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.outbox import supersede
from notifier.outbox.enqueue import enqueue
from notifier.store import events as event_store
from notifier.store.tables import outbox
from tests.scale.test_claims import NOW, row


async def _states(engine: AsyncEngine) -> dict[str, tuple[str, str | None, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.idempotency_key, outbox.c.status, outbox.c.reason, outbox.c.updated_at)
        )
        return {key: (status, reason, updated) for key, status, reason, updated in rows}


async def test_an_older_events_waiting_messages_give_way(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        first, second = [
            await event_store.append_event(
                conn,
                subject_type="incident",
                subject_id="1",
                kind="incident.updated",
                from_status=None,
                to_status=None,
                payload={},
                now=NOW,
            )
            for _ in range(2)
        ]
        rows = [
            replace(row(1, "email"), event_id=first),  # waiting: superseded
            replace(row(2, "email"), event_id=first),  # another page's customer: kept
            replace(row(3, "email", status="sent"), event_id=first),  # gone already: kept
            replace(row(1, "sms"), key="new", event_id=second),  # the news itself
        ]
        await enqueue(conn, rows)
    later = NOW + timedelta(minutes=5)
    async with engine.begin() as conn:
        changed = await supersede.supersede(
            conn,
            subject_type="incident",
            subject_id="1",
            customer_ids=["c00001", "c00003"],
            now=later,
            before_event_id=second,
            by=f"event {second}",
        )
    states = await _states(engine)
    assert changed == 1
    status, reason, updated = states["e1:r:c00001:email"]
    assert (status, reason) == ("superseded", f"superseded by event {second}")
    assert updated is not None and updated.replace(tzinfo=later.tzinfo) == later
    assert states["e1:r:c00002:email"][:2] == ("pending", None)
    assert states["e1:r:c00003:email"][:2] == ("sent", None)
    assert states["new"][:2] == ("pending", None)


async def test_a_followup_replaces_only_its_own_rules_waiting_messages(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await enqueue(
            conn,
            [
                replace(row(1, "email"), rule="still-working"),
                replace(row(1, "sms"), rule="declared"),
                replace(row(1, "email", status="deferred"), key="held", rule="still-working"),
            ],
        )
        changed = await supersede.supersede(
            conn,
            subject_type="incident",
            subject_id="1",
            customer_ids=["c00001"],
            now=NOW,
            rule="still-working",
            by="a later still-working follow-up",
        )
    states = await _states(engine)
    assert changed == 2
    assert states["e1:r:c00001:email"][:2] == (
        "superseded",
        "superseded by a later still-working follow-up",
    )
    assert states["held"][0] == "superseded"
    assert states["e1:r:c00001:sms"][:2] == ("pending", None)
