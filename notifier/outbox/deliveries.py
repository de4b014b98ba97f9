"""Deliveries: what became of each outbox row after the provider took it.

Twilio calls back as a message moves on (queued, sent, delivered or undelivered). Each
callback is kept as a delivery event; the outbox row moves only forward, `sent ->
delivered` or `sent -> failed` (messages.DeliveryStatus), so a late or repeated callback
("sent" after "delivered") changes nothing. One exception: a failure that says Twilio never
sent the message and it may go later (30001, its queue for the sender overflowed) puts the
row back to `pending` after a pause, unless its incident was resolved since (then it is
superseded): a full queue at the provider is "slow down", not the customer's loss.

A callback may also overtake the dispatcher recording its own send: its event is kept
without an outbox id and applied later (`apply_orphans`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import DeliveryStatus
from notifier.errors import NotFound
from notifier.outbox.claims import resolved_since_planned
from notifier.store.api_tables import delivery_events
from notifier.store.tables import outbox

# Twilio's message statuses (docs: Message resource, "Message status values") and what each
# means for our row, which says `sent` once Twilio accepted the message. None: still on its
# way, or nothing we did not know: the event is kept, the row stays as it is.
TWILIO_STATUSES: dict[str, DeliveryStatus | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": None,  # handed to the carrier
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,  # a read receipt implies delivery
    "undelivered": DeliveryStatus.FAILED,  # the carrier could not deliver it
    "failed": DeliveryStatus.FAILED,  # Twilio could not send it
    "canceled": DeliveryStatus.FAILED,
}

# Error codes of undelivered/failed callbacks: https://www.twilio.com/docs/api/errors/<code>
TWILIO_DELIVERY_ERRORS: dict[str, str] = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable handset (switched off or out of coverage)",
    "30004": "message blocked by the recipient or the carrier",
    "30005": "unknown number (it does not exist)",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown error",
    "30034": "sending number not registered for A2P 10DLC",
    "21610": "recipient opted out (replied STOP)",
}

# Failures after which Twilio never sent the message and it may be sent again: why, in words.
REQUEUED: dict[str, str] = {
    "30001": "Twilio dropped it from a full queue (error 30001, queue overflow)",
}
REQUEUE_AFTER = timedelta(seconds=60)  # a full queue at Twilio drains at the sender's rate

AnyRow = Row[*tuple[Any, ...]]
_FROM = DeliveryStatus.SENT.value  # the only status a callback moves on from
ORPHAN_WINDOW = timedelta(days=1)  # older unmatched callbacks are left alone


@dataclass(frozen=True, slots=True)
class CallbackResult:
    outbox_id: int | None  # None: no row has this provider id (yet)
    status: DeliveryStatus | None  # the row's new status, if it changed


def failure_reason(provider_status: str, error_code: str | None) -> str:
    if error_code is None:
        return f"Twilio: {provider_status}"
    meaning = TWILIO_DELIVERY_ERRORS.get(error_code, "see Twilio's error reference")
    return f"Twilio: {provider_status}, error {error_code}: {meaning}"


async def _apply(
    conn: AsyncConnection, outbox_id: int, status: str, error_code: str | None, now: datetime
) -> DeliveryStatus | None:
    target = TWILIO_STATUSES.get(status)
    if target is None:
        return None
    if target is DeliveryStatus.FAILED and error_code in REQUEUED:
        return await _requeue(conn, outbox_id, error_code, now)
    values: dict[str, Any] = {"status": target.value, "updated_at": now}
    if target is DeliveryStatus.FAILED:
        values |= {"reason": failure_reason(status, error_code), "error_code": error_code}
    result = await conn.execute(
        update(outbox).where(outbox.c.id == outbox_id, outbox.c.status == _FROM).values(**values)
    )
    return target if result.rowcount else None


async def _requeue(
    conn: AsyncConnection, outbox_id: int, error_code: str, now: datetime
) -> DeliveryStatus | None:
    """Send again later what Twilio dropped before sending, unless it became stale news."""
    why = REQUEUED[error_code]
    values: dict[str, Any]
    if await resolved_since_planned(conn, [outbox_id]):
        values = {
            "status": DeliveryStatus.SUPERSEDED.value,
            "reason": f"{why}; its incident was resolved since: not sent again",
        }
    else:
        values = {
            "status": DeliveryStatus.PENDING.value,
            "reason": f"{why}: to be sent again",
            "next_attempt_at": now + REQUEUE_AFTER,
            # The next send gets a provider id of its own; callbacks about this one are kept.
            "provider_id": None,
            "claimed_by": None,
            "claimed_until": None,
        }
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == _FROM)
        .values(**values, error_code=error_code, updated_at=now)
    )
    return DeliveryStatus(values["status"]) if result.rowcount else None


async def record_callback(
    conn: AsyncConnection,
    *,
    provider_id: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> CallbackResult:
    """Keep one status callback and move the matching outbox row forward if it applies."""
    query = select(outbox.c.id).where(outbox.c.provider_id == provider_id).limit(1)
    outbox_id = await conn.scalar(query)
    await conn.execute(
        insert(delivery_events).values(
            outbox_id=outbox_id,
            provider_id=provider_id,
            status=status,
            error_code=error_code,
            at=now,
        )
    )
    if outbox_id is None:
        return CallbackResult(None, None)
    return CallbackResult(outbox_id, await _apply(conn, outbox_id, status, error_code, now))


async def apply_orphans(conn: AsyncConnection, now: datetime, limit: int = 500) -> int:
    """Apply callbacks that came before their outbox row had the provider id; returns how
    many found their row."""
    events = (
        await conn.execute(
            select(delivery_events)
            .where(
                delivery_events.c.outbox_id.is_(None), delivery_events.c.at > now - ORPHAN_WINDOW
            )
            .order_by(delivery_events.c.id)
            .limit(limit)
        )
    ).all()
    if not events:
        return 0
    ids = {
        p: i
        for i, p in (
            await conn.execute(
                select(outbox.c.id, outbox.c.provider_id).where(
                    outbox.c.provider_id.in_({e.provider_id for e in events})
                )
            )
        ).all()
    }
    found = 0
    for event in events:
        outbox_id = ids.get(event.provider_id)
        if outbox_id is None:
            continue
        found += 1
        await conn.execute(
            update(delivery_events)
            .where(delivery_events.c.id == event.id)
            .values(outbox_id=outbox_id)
        )
        await _apply(conn, outbox_id, event.status, event.error_code, now)
    return found


_LIST_COLUMNS = (
    outbox.c.id,
    outbox.c.customer_id,
    outbox.c.channel,
    outbox.c.recipient,
    outbox.c.status,
    outbox.c.reason,
    outbox.c.rule,
    outbox.c.template,
    outbox.c.subject_type,
    outbox.c.subject_id,
    outbox.c.attempts,
    outbox.c.provider_id,
    outbox.c.provider,
    outbox.c.error_code,
    outbox.c.created_at,
    outbox.c.sent_at,
    outbox.c.updated_at,
)


async def list_deliveries(
    conn: AsyncConnection,
    *,
    customer_id: str | None = None,
    incident_id: int | None = None,
    status: str | None = None,
    channel: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AnyRow]:
    """Outbox rows, newest first, without their bodies; `before_id` pages backwards."""
    query = select(*_LIST_COLUMNS).order_by(outbox.c.id.desc()).limit(limit)
    if customer_id is not None:
        query = query.where(outbox.c.customer_id == customer_id)
    if incident_id is not None:
        query = query.where(
            outbox.c.subject_type == "incident", outbox.c.subject_id == str(incident_id)
        )
    if status is not None:
        query = query.where(outbox.c.status == status)
    if channel is not None:
        query = query.where(outbox.c.channel == channel)
    if before_id is not None:
        query = query.where(outbox.c.id < before_id)
    return (await conn.execute(query)).all()


async def get_delivery(conn: AsyncConnection, outbox_id: int) -> tuple[AnyRow, list[AnyRow]]:
    """One outbox row with its bodies, and its status events in order."""
    columns = (*_LIST_COLUMNS, outbox.c.subject, outbox.c.body_text, outbox.c.body_html)
    row = (await conn.execute(select(*columns).where(outbox.c.id == outbox_id))).first()
    if row is None:
        raise NotFound(f"delivery {outbox_id} does not exist")
    events = (
        await conn.execute(
            select(delivery_events.c.status, delivery_events.c.error_code, delivery_events.c.at)
            .where(delivery_events.c.outbox_id == outbox_id)
            .order_by(delivery_events.c.id)
        )
    ).all()
    return row, list(events)
