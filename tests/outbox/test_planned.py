"""A planned message becomes an outbox row in one place (enqueue.as_row): every field of
the message lands in its column, and every column planning owns is filled. SQLite and
PostgreSQL alike for the round trip."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.outbox.enqueue import as_row, enqueue
from notifier.outbox.planned import PlannedMessage
from notifier.store.tables import outbox
from tests.scale.test_claims import NOW

# Columns the dispatcher and the provider fill later, never planning.
LATER = {"id", "claimed_by", "claimed_until", "provider_id", "error_code", "sent_at", "provider"}


def _deferred() -> PlannedMessage:
    """Every field set, each to a value no other field has."""
    return PlannedMessage(
        key="e7:declared:c1:email",
        customer_id="c1",
        channel=ChannelName.EMAIL,
        recipient="c1@example.com",
        locale="fr",
        rule="declared",
        template="incident_declared",
        subject_type="incident",
        subject_id="42",
        event_id=None,
        status=DeliveryStatus.DEFERRED,
        planned_at=NOW,
        next_attempt_at=NOW + timedelta(hours=7),
        reason="quiet hours 22:00-07:00 in Europe/Paris",
        subject="Panne en cours",
        text="Nous travaillons dessus.",
        html="<p>Nous travaillons dessus.</p>",
    )


def test_a_row_fills_every_column_planning_owns() -> None:
    planning_owns = {c.name for c in outbox.columns} - LATER
    assert set(as_row(_deferred())) == planning_owns


def test_every_field_of_the_message_reaches_the_row() -> None:
    message = _deferred()
    row = as_row(message)
    values = {f.name: getattr(message, f.name) for f in fields(message) if f.name != "event_id"}
    lost = {
        name: value
        for name, value in values.items()
        if (value.value if isinstance(value, ChannelName | DeliveryStatus) else value)
        not in row.values()
    }
    assert not lost, f"fields of PlannedMessage missing from its row: {lost}"


async def test_a_planned_message_reads_back_as_planned(engine: AsyncEngine) -> None:
    message = _deferred()
    async with engine.begin() as conn:
        assert await enqueue(conn, [message]) == 1
        assert await enqueue(conn, [message]) == 0  # its key is taken: nothing new
    async with engine.connect() as conn:
        stored = (await conn.execute(select(outbox))).one()._asdict()
    expected = as_row(message)
    assert {k: stored[k] for k in expected} == expected
