"""Channel fallback: a copy on the rule's fallback channel waits in `standby` beside the
primary message; it goes only if the primary fails for good, and is cancelled once the
primary is sent. Its key is the primary's key plus ":fallback", so each primary has at most
one fallback. Settled by a sweep each worker step, off the dispatcher's hot path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.store.tables import outbox

SUFFIX = ":fallback"


def fallback_key(primary_key: str) -> str:
    return primary_key + SUFFIX


_SETTLED = {
    # The primary's status -> what becomes of its standby copy.
    DeliveryStatus.SENT.value: (DeliveryStatus.CANCELLED, "not needed: the primary was sent"),
    DeliveryStatus.DELIVERED.value: (DeliveryStatus.CANCELLED, "not needed: the primary arrived"),
    DeliveryStatus.SUPERSEDED.value: (DeliveryStatus.CANCELLED, "the primary was superseded"),
    DeliveryStatus.CANCELLED.value: (DeliveryStatus.CANCELLED, "the primary was cancelled"),
    DeliveryStatus.FAILED.value: (DeliveryStatus.PENDING, "fallback: the primary failed"),
}


async def sweep(conn: AsyncConnection, now: datetime, limit: int = 500) -> int:
    """Settle standby copies whose primary has an outcome. Reads only `standby` rows (the
    status index), so it costs nothing when no rule has a fallback."""
    waiting = (
        await conn.execute(
            select(outbox.c.id, outbox.c.idempotency_key)
            .where(outbox.c.status == DeliveryStatus.STANDBY.value)
            .limit(limit)
        )
    ).all()
    if not waiting:
        return 0
    primaries = {
        row.idempotency_key: row
        for row in (
            await conn.execute(
                select(outbox.c.idempotency_key, outbox.c.status, outbox.c.reason).where(
                    outbox.c.idempotency_key.in_(
                        [w.idempotency_key[: -len(SUFFIX)] for w in waiting]
                    )
                )
            )
        ).all()
    }
    settled = 0
    for copy in waiting:
        primary = primaries.get(copy.idempotency_key[: -len(SUFFIX)])
        if primary is None or primary.status not in _SETTLED:
            continue
        status, why = _SETTLED[primary.status]
        if status is DeliveryStatus.PENDING and primary.reason:
            why = f"{why} ({primary.reason})"
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == copy.id, outbox.c.status == DeliveryStatus.STANDBY.value)
            .values(
                status=status.value,
                reason=why,
                next_attempt_at=now if status is DeliveryStatus.PENDING else None,
                updated_at=now,
            )
        )
        settled += 1
    return settled
