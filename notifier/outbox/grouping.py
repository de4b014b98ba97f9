"""One customer, one voice: messages held for the grouping window leave as one.

Rules with `group = true` plan their messages as `grouping`, due at the end of the window.
When the first of a customer's waiting messages on a channel falls due, everything that
customer has waiting on that channel goes together: alone, as it is; several, as one
message rendered from the `digest` template, the originals marked `grouped` with the id of
the message that carried them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.errors import NotifierError
from notifier.store.customers import find_customer
from notifier.store.tables import incidents, outbox
from notifier.templating.catalog import LiveCatalog

DIGEST = "digest"
_WAITING = DeliveryStatus.GROUPING.value


class Grouper:
    def __init__(
        self, engine: AsyncEngine, *, templates: LiveCatalog, settings: Settings, clock: Clock
    ) -> None:
        self._engine = engine
        self._templates = templates
        self._settings = settings
        self._clock = clock

    async def flush(self, limit: int = 100) -> int:
        """Release the groups whose window has closed; returns how many messages went."""
        now = self._clock.now()
        due = (
            select(outbox.c.customer_id, outbox.c.channel)
            .where(outbox.c.status == _WAITING, outbox.c.next_attempt_at <= now)
            .distinct()
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            groups = [(r.customer_id, r.channel) for r in (await conn.execute(due)).all()]
        released = 0
        for customer_id, channel in groups:
            async with self._engine.begin() as conn:
                released += await self._release(conn, customer_id, ChannelName(channel))
        return released

    async def _release(self, conn: AsyncConnection, customer_id: str, channel: ChannelName) -> int:
        now = self._clock.now()
        rows = (
            await conn.execute(
                select(outbox)
                .where(
                    outbox.c.status == _WAITING,
                    outbox.c.customer_id == customer_id,
                    outbox.c.channel == channel.value,
                    # A message held by quiet hours (its reason says so) waits for the
                    # morning, even when a group of the customer's leaves in the night.
                    or_(outbox.c.reason.is_(None), outbox.c.next_attempt_at <= now),
                )
                .order_by(outbox.c.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0  # another worker took this group
        if len(rows) == 1:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == rows[0].id)
                .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, updated_at=now)
            )
            return 1
        combined = await self._combined(conn, rows, customer_id, channel, now)
        new_id = (
            await conn.execute(insert(outbox).values(**combined).returning(outbox.c.id))
        ).scalar_one()
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([r.id for r in rows]))
            .values(
                status=DeliveryStatus.GROUPED.value,
                reason=f"sent together in message {new_id}",
                next_attempt_at=None,
                updated_at=now,
            )
        )
        return 1

    async def _combined(
        self,
        conn: AsyncConnection,
        rows: Sequence[Any],
        customer_id: str,
        channel: ChannelName,
        now: datetime,
    ) -> dict[str, Any]:
        first = rows[0]
        row: dict[str, Any] = {
            "idempotency_key": f"group:{first.id}:{channel.value}",
            "event_id": None,
            "rule": ",".join(dict.fromkeys(r.rule for r in rows))[:128],
            "template": DIGEST,
            "customer_id": customer_id,
            "subject_type": first.subject_type if _one(rows, "subject_type") else "group",
            "subject_id": first.subject_id if _one(rows, "subject_id") else str(first.id),
            "channel": channel.value,
            "recipient": first.recipient,
            "locale": first.locale,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        customer = await find_customer(conn, customer_id)
        if customer is None:
            row.update(status=DeliveryStatus.FAILED.value, reason="customer was deleted")
            return row
        ranked = sorted(rows, key=await _importance(conn, rows))
        context = {
            "customer": customer.as_context(),
            "company": self._settings.company.model_dump(),
            "now": now,
            "messages": [
                {
                    "subject": r.subject,
                    "text": r.body_text,
                    "html": r.body_html,
                    "about": r.subject_type,
                }
                for r in ranked
            ],
            "incident": None,
            "update": None,
            "event": None,
            "order": None,
            "told": None,
        }
        try:
            rendered = self._templates.current.render(DIGEST, channel, customer.locale, context)
        except NotifierError as exc:
            row.update(status=DeliveryStatus.FAILED.value, reason=str(exc), next_attempt_at=None)
            return row
        row.update(subject=rendered.subject, body_text=rendered.text, body_html=rendered.html)
        return row


_SEVERITY_RANK = {"critical": 0, "major": 1, "minor": 2}


async def _importance(conn: AsyncConnection, rows: Sequence[Any]) -> Callable[[Any], Any]:
    """The digest's order: outages first, the most severe first, then everything else as it
    came; the digest's subject names the first."""
    ids = {int(r.subject_id) for r in rows if r.subject_type == "incident"}
    severity: dict[str, str] = {}
    if ids:
        found = await conn.execute(
            select(incidents.c.id, incidents.c.severity).where(incidents.c.id.in_(ids))
        )
        severity = {str(i): level for i, level in found.all()}

    def key(row: Any) -> tuple[int, int, int]:
        if row.subject_type != "incident":
            return (1, 0, row.id)
        return (0, _SEVERITY_RANK.get(severity.get(row.subject_id, ""), 3), row.id)

    return key


def _one(rows: Sequence[Any], column: str) -> bool:
    return len({getattr(r, column) for r in rows}) == 1
