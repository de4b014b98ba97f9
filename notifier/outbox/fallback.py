"""Channel fallback: a copy on the rule's fallback channel waits in `standby` beside the
primary message; it goes only if the primary fails for good, and is cancelled once the
primary is sent. Its key is the primary's key plus ":fallback", so each primary has at most
one fallback and activating it twice does nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.store.tables import outbox

SUFFIX = ":fallback"


def fallback_key(primary_key: str) -> str:
    return primary_key + SUFFIX


async def settle(
    conn: AsyncConnection,
    *,
    failed: Sequence[tuple[str, str]],
    sent: Sequence[str],
    now: datetime,
) -> None:
    """Activate the fallbacks of permanently failed primaries ((key, reason) pairs) and
    cancel those of sent ones."""
    standby = outbox.c.status == DeliveryStatus.STANDBY.value
    for key, reason in failed:
        await conn.execute(
            update(outbox)
            .where(outbox.c.idempotency_key == fallback_key(key), standby)
            .values(
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=now,
                reason=f"fallback: the primary message failed ({reason})",
                updated_at=now,
            )
        )
    if sent:
        await conn.execute(
            update(outbox)
            .where(outbox.c.idempotency_key.in_([fallback_key(k) for k in sent]), standby)
            .values(
                status=DeliveryStatus.CANCELLED.value,
                reason="not needed: the primary message was sent",
                updated_at=now,
            )
        )
