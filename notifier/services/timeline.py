"""A customer's timeline: what we told them, on which channel, and what became of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.outbox import queries as outbox_queries
from notifier.store.customers import get_customer


def _summary(subject: str | None, text: str | None) -> str:
    if subject:
        return subject
    first = (text or "").strip().splitlines()
    return first[0][:120] if first else ""


async def customer_timeline(engine: AsyncEngine, customer_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        customer = await get_customer(conn, customer_id)
        rows = await outbox_queries.timeline(conn, customer_id)
    entries = [
        {
            "id": r.id,
            "time": r.sent_at or r.created_at,
            "planned_at": r.created_at,
            "sent_at": r.sent_at,
            "channel": r.channel,
            "template": r.template,
            "rule": r.rule,
            "status": r.status,
            "reason": r.reason,
            "recipient": r.recipient,
            "subject": r.subject,
            "summary": _summary(r.subject, r.body_text),
            "about": f"{r.subject_type} {r.subject_id}",
            "attempts": r.attempts,
            # For a deferred or retrying message: when it will go.
            "next_attempt_at": r.next_attempt_at if r.status in ("pending", "deferred") else None,
            "provider_id": r.provider_id,
            "provider": r.provider,  # which relay or SMS account carried it
        }
        for r in rows
    ]
    return {"customer": customer.as_context(), "entries": entries}
