"""Outcomes: what became of each claimed message, written back in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.store.tables import outbox


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed message; recorded in batches."""

    id: int
    status: DeliveryStatus
    reason: str | None = None
    provider_id: str | None = None
    error_code: str | None = None
    next_attempt_at: datetime | None = None
    # (customer, channel) the provider says opted out: the dispatcher records the opt-out.
    opt_out: tuple[str, ChannelName] | None = None
    # Which provider carried it (the relay or SMS account's name).
    provider: str | None = None
    # False when the provider throttled or was down: the claim's attempt is given back.
    counted: bool = True


async def record(
    conn: AsyncConnection, *, worker: str, outcomes: Sequence[Outcome], now: datetime
) -> None:
    """Write outcomes in one executemany; only rows this worker still holds are touched."""
    if not outcomes:
        return
    statement = (
        update(outbox)
        .where(
            and_(
                outbox.c.id == bindparam("b_id"),
                outbox.c.status == DeliveryStatus.SENDING.value,
                outbox.c.claimed_by == worker,
            )
        )
        .values(
            status=bindparam("b_status"),
            reason=bindparam("b_reason"),
            provider_id=bindparam("b_provider_id"),
            error_code=bindparam("b_error_code"),
            next_attempt_at=bindparam("b_next"),
            sent_at=bindparam("b_sent_at"),
            provider=bindparam("b_provider"),
            attempts=outbox.c.attempts - bindparam("b_uncount"),
            claimed_by=None,
            claimed_until=None,
            updated_at=now,
        )
    )
    params = [
        {
            "b_id": o.id,
            "b_status": o.status.value,
            "b_reason": o.reason,
            "b_provider_id": o.provider_id,
            "b_error_code": o.error_code,
            "b_next": o.next_attempt_at,
            "b_sent_at": now if o.status is DeliveryStatus.SENT else None,
            "b_provider": o.provider,
            "b_uncount": 0 if o.counted else 1,
        }
        for o in outcomes
    ]
    await conn.execute(statement, params)
