"""Claims: dispatchers take due messages with a lease, and give back what they will not send.

A claim moves rows to `sending` with `claimed_until`, so a dispatcher that dies mid-send
releases them when the lease runs out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    String,
    Update,
    bindparam,
    case,
    cast,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.store.tables import incidents, outbox
from notifier.store.types import UTCDateTime
from notifier.store.wakeup import TOPIC_OUTBOX, announce_work

# What a dispatcher may claim. Deferred messages (quiet hours) go once their hour has come,
# like retries.
CLAIMABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value)
_INCIDENT_ID = case((outbox.c.subject_type == "incident", cast(outbox.c.subject_id, Integer)))
# Columns a dispatcher needs; the bodies are read only for the rows it claims.
_CLAIM_COLUMNS = (
    outbox.c.id,
    outbox.c.idempotency_key,
    outbox.c.channel,
    outbox.c.recipient,
    outbox.c.subject,
    outbox.c.body_text,
    outbox.c.body_html,
    outbox.c.attempts,
    outbox.c.customer_id,
    outbox.c.next_attempt_at,
    outbox.c.created_at,
    outbox.c.subject_type,
    outbox.c.priority,
    outbox.c.expires_at,
    # The incident's severity, for headers (no List-Unsubscribe on critical news): read with
    # the claim so that deciding headers costs no query per message.
    select(incidents.c.severity).where(incidents.c.id == _INCIDENT_ID).scalar_subquery().label(
        "severity"
    ),
)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    key: str
    channel: ChannelName
    recipient: str
    subject: str | None
    text: str
    html: str | None
    attempts: int
    customer_id: str
    subject_type: str = ""
    severity: str | None = None  # an incident's; None for other subjects
    due_at: datetime | None = None  # its next_attempt_at when claimed
    created_at: datetime | None = None  # when it was planned: patience counts from here
    priority: int = 50
    expires_at: datetime | None = None  # not worth delivering after this

    @property
    def order(self) -> tuple[int, datetime | None, int]:
        """Claim order: most important first, then longest due."""
        return (-self.priority, self.due_at, self.id)


async def claim_due(
    conn: AsyncConnection,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    channel: ChannelName | None = None,
    above: int | None = None,
) -> list[ClaimedMessage]:
    """Claim up to `limit` due messages (of one channel, if given): the highest priority
    first, and within a priority the longest due first. With `above`, only messages of a
    higher priority than that (a lane already full of lower ones, told of new work).

    One statement: `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING ...`. On PostgreSQL concurrent claimers skip each other's rows instead of
    waiting for them; SQLite has one writer (BEGIN IMMEDIATE), so the lock clause is
    dropped there and not needed.

    The due rows are read per status (pending, deferred), each an ordered range of an
    index that stops after `limit` rows: ix_outbox_channel_priority_due (status, channel,
    priority DESC, next_attempt_at) for one channel. No sort of everything due, and no
    stepping over the other channel's rows, either of which would make each claim cost as
    much as the whole backlog. (The claim of every channel at once, for `run_once` and
    simulations, sorts what is due.)
    """
    statement = _claim_statement(None if channel is None else channel.value, above is not None)
    params = {"c_now": now, "c_worker": worker, "c_until": now + lease, "c_limit": limit}
    if above is not None:
        params["c_above"] = above
    rows = (await conn.execute(statement, params)).all()
    return sorted((_claimed(r) for r in rows), key=lambda m: m.order)


@functools.cache
def _claim_statement(channel: str | None, floor: bool = False) -> Update:
    """The claim, built once per channel: a claim runs many times a second, and building
    the statement (unions, subqueries, cache key) cost more than running it."""
    now = bindparam("c_now", type_=UTCDateTime)
    limit = bindparam("c_limit", type_=Integer)
    branches = []
    for status in CLAIMABLE:
        branch = select(outbox.c.id, outbox.c.priority, outbox.c.next_attempt_at).where(
            outbox.c.status == status, outbox.c.next_attempt_at <= now
        )
        if channel is not None:
            branch = branch.where(outbox.c.channel == channel)
        if floor:
            branch = branch.where(outbox.c.priority > bindparam("c_above", type_=Integer))
        ranged = (
            branch.order_by(outbox.c.priority.desc(), outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # SQLite refuses ORDER BY and LIMIT on a bare UNION member.
            .subquery()
        )
        branches.append(select(ranged.c.id, ranged.c.priority, ranged.c.next_attempt_at))
    both = union_all(*branches).subquery()
    due = (
        select(both.c.id)
        .order_by(both.c.priority.desc(), both.c.next_attempt_at, both.c.id)
        .limit(limit)
    )
    return (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_by=bindparam("c_worker", type_=String),
            claimed_until=bindparam("c_until", type_=UTCDateTime),
            # Counted at the claim, so a message that crashes its worker every time
            # still runs out of attempts instead of looping forever.
            attempts=outbox.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_CLAIM_COLUMNS)
    )


async def release(
    conn: AsyncConnection,
    *,
    worker: str,
    ids: Sequence[int],
    now: datetime,
    due: datetime | None = None,
) -> int:
    """Give back claimed messages this worker will not send after all (it is stopping, or
    their provider has no turn for them yet).

    They are due again at `due` (default: at once), for any worker, and the claim is not
    counted as an attempt.
    """
    if not ids:
        return 0
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.id.in_(list(ids)),
            outbox.c.status == DeliveryStatus.SENDING.value,
            outbox.c.claimed_by == worker,
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now if due is None else due,
            claimed_by=None,
            claimed_until=None,
            attempts=outbox.c.attempts - 1,
            updated_at=now,
        )
    )
    if result.rowcount:
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


def _claimed(row: Row[Any]) -> ClaimedMessage:
    return ClaimedMessage(
        id=row.id,
        key=row.idempotency_key,
        channel=ChannelName(row.channel),
        recipient=row.recipient,
        subject=row.subject,
        text=row.body_text or "",
        html=row.body_html,
        attempts=row.attempts,
        customer_id=row.customer_id,
        subject_type=row.subject_type,
        severity=row.severity,
        due_at=row.next_attempt_at,
        created_at=row.created_at,
        priority=row.priority,
        expires_at=row.expires_at,
    )


async def release_expired(conn: AsyncConnection, now: datetime) -> int:
    """Give back rows whose dispatcher died mid-send (its lease ran out)."""
    result = await conn.execute(
        update(outbox)
        .where(
            outbox.c.status == DeliveryStatus.SENDING.value,
            outbox.c.claimed_until < now,
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
            reason="lease expired: the dispatcher stopped mid-send",
            updated_at=now,
        )
    )
    if result.rowcount:
        await announce_work(conn, TOPIC_OUTBOX)
    return max(result.rowcount, 0)


async def resolved_since_planned(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    """Of these claimed messages, those about an incident resolved after they were planned:
    stale news that a paced lane, which holds messages while they wait for their turn,
    must not hand over (the resolution superseded what was still waiting; these were
    already claimed)."""
    if not ids:
        return set()
    query = (
        select(outbox.c.id)
        .join(incidents, incidents.c.id == _INCIDENT_ID)
        .where(
            outbox.c.id.in_(list(ids)),
            outbox.c.subject_type == "incident",
            incidents.c.resolved_at.is_not(None),
            outbox.c.created_at < incidents.c.resolved_at,
        )
    )
    return set((await conn.execute(query)).scalars())
