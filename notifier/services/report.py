"""An incident's report: who was affected, what we sent and what became of it, how fast
everyone heard, and how many of those who contacted us had already been told.

`notifier incident report ID` and `GET /api/incidents/{id}/report` both print this.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.outbox import reports as store
from notifier.outbox.deliveries import apply_orphans
from notifier.store import incidents as incident_store

FRACTIONS = (0.5, 0.95, 1.0)
# Contacts count from the declaration until a day after the resolution: people still call
# about an outage after it is over, but not a week later.
CONTACT_TAIL = timedelta(days=1)
_WAITING = {DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED}


def _channel_stats(buckets: list[store.Bucket]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {"suppressed": {}, "failed": {}}
    sent = 0
    by_provider: dict[str, int] = {}
    for b in buckets:
        by_status[b.status] = by_status.get(b.status, 0) + b.count
        sent += b.sent
        if b.sent and b.provider is not None:
            by_provider[b.provider] = by_provider.get(b.provider, 0) + b.sent
        if b.status in reasons:
            key = b.reason or "unknown"
            reasons[b.status][key] = reasons[b.status].get(key, 0) + b.count
    total = sum(by_status.values())
    suppressed = by_status.get(DeliveryStatus.SUPPRESSED, 0)
    return {
        # Planned: every message the rules wanted to send, i.e. all but the suppressed.
        "planned": total - suppressed,
        "sent": sent,
        "delivered": by_status.get(DeliveryStatus.DELIVERED, 0),
        "failed": by_status.get(DeliveryStatus.FAILED, 0),
        "suppressed": suppressed,
        "waiting": sum(by_status.get(s, 0) for s in _WAITING),
        "by_status": dict(sorted(by_status.items())),
        "suppressed_by_reason": dict(sorted(reasons["suppressed"].items())),
        "failed_by_reason": dict(sorted(reasons["failed"].items())),
        # Which relay or SMS account carried what was sent (failover shows here).
        "sent_by_provider": dict(sorted(by_provider.items())),
    }


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if end is not None else None


async def incident_report(
    engine: AsyncEngine, incident_id: int, *, now: datetime
) -> dict[str, Any]:
    async with engine.begin() as conn:
        # Status callbacks that came before their send was recorded count from now on.
        await apply_orphans(conn, now)
    async with engine.connect() as conn:
        incident = await incident_store.get_incident(conn, incident_id)
        buckets = await store.buckets(conn, incident_id)
        affected = await store.affected_count(conn, incident_id)
        told, times = await store.first_message_times(conn, incident_id, FRACTIONS)
        until = incident.resolved_at + CONTACT_TAIL if incident.resolved_at else now
        contacted = await store.contacts_against_firsts(
            conn, incident_id, incident.declared_at, until
        )
    declared = incident.declared_at
    before = sum(1 for _, at, first in contacted if first is not None and first < at)
    return {
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity.value,
            "status": incident.status.value,
            "declared_at": declared.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
        "affected": affected,
        "channels": {
            channel.value: _channel_stats([b for b in buckets if b.channel == channel.value])
            for channel in ChannelName
        },
        "first_message": {
            "customers_told": told,
            **{
                f"p{round(f * 100)}_seconds": _seconds(declared, t)
                for f, t in zip(FRACTIONS, times, strict=True)
            },
        },
        "contacts": {
            "window_end": until.isoformat(),
            "customers_who_contacted": len(contacted),
            "told_before_they_called": before,
            "told_before_percent": round(100 * before / len(contacted), 1) if contacted else None,
        },
    }
