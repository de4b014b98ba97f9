"""One customer, one voice: messages held for the grouping window leave as one.

Rules with `group = true` plan their messages as `grouping`, due at the end of the window.
When the first of a customer's waiting messages on a channel falls due, everything that
customer has waiting on that channel goes together: alone, as it is; several, as one
message rendered from the `digest` template, the originals marked `grouped` with the id of
the message that carried them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.clock import Clock
from notifier.config import Settings
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.errors import NotifierError
from notifier.outbox.enqueue import as_row
from notifier.outbox.planned import PlannedMessage
from notifier.store.customers import find_customer
from notifier.store.tables import incidents, outbox
from notifier.templating.catalog import LiveCatalog

DIGEST = "digest"
_WAITING = DeliveryStatus.GROUPING.value
# Every fan-out page runs it (every order event too): built once, as building it cost more
# than running it.
_WAITING_GROUPS = (
    select(outbox.c.customer_id, outbox.c.channel)
    .where(
        outbox.c.status == _WAITING,
        outbox.c.customer_id.in_(bindparam("customer_ids", expanding=True)),
    )
    .distinct()
)


async def join_waiting(
    conn: AsyncConnection,
    customer_ids: list[str],
    planned: Iterable[PlannedMessage],
    now: datetime,
) -> None:
    """One customer, one voice: a message planned to go now to a customer who already has
    grouped messages waiting on that channel joins them, and the group leaves at once as
    one message (the grouper's next flush). Reads only `grouping` rows: nothing to read in
    the common case."""
    waiting = {
        (r.customer_id, r.channel)
        for r in (await conn.execute(_WAITING_GROUPS, {"customer_ids": customer_ids})).all()
    }
    if not waiting:
        return
    joining = [
        message
        for message in planned
        if message.status is DeliveryStatus.PENDING
        and (message.customer_id, message.channel.value) in waiting
    ]
    keys = [message.key for message in joining]
    if keys:
        await conn.execute(
            update(outbox)
            .where(
                outbox.c.idempotency_key.in_(keys),
                outbox.c.status == DeliveryStatus.PENDING.value,
            )
            .values(status=_WAITING, next_attempt_at=now, updated_at=now)
        )
        # Everything the customer has waiting on that channel goes now, together; except
        # what quiet hours hold (the reason says so), which waits for the morning.
        for customer_id, channel in {(m.customer_id, m.channel.value) for m in joining}:
            await conn.execute(
                update(outbox)
                .where(
                    outbox.c.status == _WAITING,
                    outbox.c.customer_id == customer_id,
                    outbox.c.channel == channel,
                    outbox.c.reason.is_(None),
                )
                .values(next_attempt_at=now)
            )


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
            await conn.execute(insert(outbox).values(**as_row(combined)).returning(outbox.c.id))
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
    ) -> PlannedMessage:
        first = rows[0]
        digest = PlannedMessage(
            key=f"group:{first.id}:{channel.value}",
            customer_id=customer_id,
            channel=channel,
            recipient=first.recipient,
            locale=first.locale,
            rule=",".join(dict.fromkeys(r.rule for r in rows))[:128],
            template=DIGEST,
            subject_type=first.subject_type if _one(rows, "subject_type") else "group",
            subject_id=first.subject_id if _one(rows, "subject_id") else str(first.id),
            event_id=None,
            status=DeliveryStatus.PENDING,
            planned_at=now,
            next_attempt_at=now,
            # A digest gathers what could wait: it goes after everything that could not.
            priority=min(r.priority for r in rows),
        )
        customer = await find_customer(conn, customer_id)
        if customer is None:
            return replace(digest, status=DeliveryStatus.FAILED, reason="customer was deleted")
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
            return replace(
                digest, status=DeliveryStatus.FAILED, reason=str(exc), next_attempt_at=None
            )
        return replace(digest, subject=rendered.subject, text=rendered.text, html=rendered.html)


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

    def key(row: Any) -> tuple[int, int, int, int]:
        # Events are numbered as they happened; rows are not (subjects are planned side by
        # side), so "as it came" is the event's order.
        came = (row.event_id or 0, row.id)
        if row.subject_type != "incident":
            return (1, 0, *came)
        return (0, _SEVERITY_RANK.get(severity.get(row.subject_id, ""), 3), *came)

    return key


def _one(rows: Sequence[Any], column: str) -> bool:
    return len({getattr(r, column) for r in rows}) == 1
