"""What became of the messages: listing and showing them, and the providers' status
callbacks about them. Thin over the outbox, so the faces need not open connections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.outbox import deliveries as store
from notifier.outbox.deliveries import AnyRow


async def list_deliveries(
    engine: AsyncEngine,
    *,
    customer_id: str | None,
    incident_id: int | None,
    status: str | None,
    channel: str | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AnyRow]:
    """Messages, newest first, without their bodies."""
    async with engine.connect() as conn:
        return await store.list_deliveries(
            conn,
            customer_id=customer_id,
            incident_id=incident_id,
            status=status,
            channel=channel,
            before_id=before_id,
            limit=limit,
        )


async def delivery(engine: AsyncEngine, outbox_id: int) -> tuple[AnyRow, list[AnyRow]]:
    """One message with its bodies, and its status events oldest first; NotFound if none."""
    async with engine.connect() as conn:
        return await store.get_delivery(conn, outbox_id)


async def status_callback(
    engine: AsyncEngine, *, provider_id: str, status: str, error_code: str | None, now: datetime
) -> None:
    """Record a provider's word on a message it was handed."""
    async with engine.begin() as conn:
        await store.record_callback(
            conn, provider_id=provider_id, status=status, error_code=error_code, now=now
        )
        # Callbacks that overtook the dispatcher's own record of a send find their row now.
        await store.apply_orphans(conn, now)
