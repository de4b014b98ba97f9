"""Claiming the outbox at scale: per channel, in order, without duplicates, with a lease,
and idle workers woken by what other connections commit. SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.outbox import claims as store
from notifier.outbox.enqueue import enqueue as enqueue_rows
from notifier.outbox.planned import PlannedMessage
from notifier.outbox.supersede import supersede
from notifier.store import events as event_store
from notifier.store.tables import outbox
from notifier.store.wakeup import TOPIC_EVENTS, TOPIC_OUTBOX, WORK_CHANNEL, WorkWatcher
from tests.waiting import GENEROUS, wait_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def row(i: int, channel: str, *, status: str = "pending", due: datetime = NOW) -> PlannedMessage:
    return PlannedMessage(
        key=f"e1:r:c{i:05d}:{channel}",
        customer_id=f"c{i:05d}",
        channel=ChannelName(channel),
        recipient=f"c{i}@example.com" if channel == "email" else f"+1555{i:07d}",
        locale="en",
        rule="r",
        template="t",
        subject_type="incident",
        subject_id="1",
        event_id=None,
        status=DeliveryStatus(status),
        planned_at=NOW,
        next_attempt_at=due,
        subject="s" if channel == "email" else None,
        text="t",
    )


async def enqueue(engine: AsyncEngine, rows: list[PlannedMessage]) -> None:
    async with engine.begin() as conn:
        await enqueue_rows(conn, rows)


async def claim(engine: AsyncEngine, worker: str = "w1", **kwargs: Any) -> list[Any]:
    async with engine.begin() as conn:
        return await store.claim_due(
            conn, worker=worker, now=kwargs.pop("now", NOW), lease=LEASE, **kwargs
        )


def _position(message: store.ClaimedMessage) -> tuple[datetime, int]:
    assert message.due_at is not None
    return (message.due_at, message.id)


async def test_a_channel_claim_takes_its_own_rows_oldest_due_first(engine: AsyncEngine) -> None:
    rows = [row(i, "email", due=NOW - timedelta(seconds=i % 3)) for i in range(30)]
    rows += [row(i, "sms") for i in range(30)]
    rows.append(row(99, "email", status="deferred", due=NOW - timedelta(hours=1)))
    rows.append(row(98, "email", due=NOW + timedelta(minutes=5)))  # not due yet
    await enqueue(engine, rows)

    first = await claim(engine, limit=10, channel=ChannelName.EMAIL)
    assert {m.channel for m in first} == {ChannelName.EMAIL}
    order = sorted(first, key=_position)
    # The deferred one whose hour has come goes first, then the longest due.
    assert order[0].customer_id == "c00099"
    assert all(m.due_at is not None and m.due_at <= NOW for m in first)

    rest = await claim(engine, limit=100, channel=ChannelName.EMAIL)
    everything = first + rest
    assert len(everything) == 31  # 30 pending + the deferred; the future one waits
    assert len({m.id for m in everything}) == 31
    assert max(map(_position, first)) < min(map(_position, rest))
    sms = await claim(engine, limit=100, channel=ChannelName.SMS)
    assert len(sms) == 30 and {m.channel for m in sms} == {ChannelName.SMS}


async def test_concurrent_claimers_never_take_a_row_twice(engine: AsyncEngine) -> None:
    await enqueue(engine, [row(i, ("email", "sms")[i % 2]) for i in range(400)])

    async def claimer(name: str) -> list[int]:
        taken: list[int] = []
        while batch := await claim(engine, worker=name, limit=17):
            taken += [m.id for m in batch]
        return taken

    results = await asyncio.gather(*(claimer(f"w{n}") for n in range(4)))
    taken = [i for result in results for i in result]
    assert len(taken) == 400
    assert len(set(taken)) == 400


async def test_release_gives_back_without_counting_an_attempt(engine: AsyncEngine) -> None:
    await enqueue(engine, [row(i, "sms") for i in range(5)])
    claimed = await claim(engine, limit=5)
    async with engine.begin() as conn:
        # Only the claimer's own rows go back.
        assert await store.release(conn, worker="other", ids=[m.id for m in claimed], now=NOW) == 0
        assert await store.release(conn, worker="w1", ids=[m.id for m in claimed], now=NOW) == 5
        rows = (await conn.execute(select(outbox.c.status, outbox.c.attempts))).all()
    assert {(r.status, r.attempts) for r in rows} == {(DeliveryStatus.PENDING.value, 0)}


async def test_a_dead_claimers_rows_come_back_after_the_lease(engine: AsyncEngine) -> None:
    await enqueue(engine, [row(i, "email") for i in range(3)])
    await claim(engine, worker="dead", limit=3)
    assert await claim(engine, worker="alive", limit=3) == []
    later = NOW + LEASE + timedelta(seconds=1)
    async with engine.begin() as conn:
        assert await store.release_expired(conn, later) == 3
    again = await claim(engine, worker="alive", limit=3, now=later)
    assert len(again) == 3 and all(m.attempts == 2 for m in again)


async def test_an_idle_watcher_hears_of_a_new_event_at_commit(engine: AsyncEngine) -> None:
    heard: list[str | None] = []
    arrived = asyncio.Event()

    def on_work(topic: str | None) -> None:
        heard.append(topic)
        if topic == TOPIC_EVENTS:
            arrived.set()

    async with WorkWatcher(engine, on_work) as watcher:
        assert watcher.ready
        # A rolled-back append wakes nobody.
        async with engine.connect() as conn:
            transaction = await conn.begin()
            await append(conn)
            await transaction.rollback()
        if engine.dialect.name == "postgresql":
            # A barrier: a notification of another topic, sent after the rollback. Once it
            # is heard, whatever the rollback had sent would have been heard before it
            # (notifications arrive in commit order).
            async with engine.begin() as conn:
                await conn.execute(
                    text("SELECT pg_notify(:channel, :topic)"),
                    {"channel": WORK_CHANNEL, "topic": TOPIC_OUTBOX},
                )
            await wait_for(lambda: TOPIC_OUTBOX in heard, what="the barrier notification")
        # (SQLite: the watcher reads only committed state, `data_version` and the newest
        # event id, and a rollback changes neither.)
        assert TOPIC_EVENTS not in heard
        async with engine.begin() as conn:
            await append(conn)
        await asyncio.wait_for(arrived.wait(), GENEROUS)
        assert heard.count(TOPIC_EVENTS) == 1, heard


async def append(conn: Any) -> None:
    await event_store.append_event(
        conn,
        subject_type="incident",
        subject_id="1",
        kind="incident.declared",
        from_status=None,
        to_status="declared",
        payload={},
        now=NOW,
    )


async def _plans(engine: AsyncEngine, call: Any) -> str:
    """The query plans of the statements `call(conn)` runs, read back with EXPLAIN."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    async with engine.begin() as conn:
        event.listen(conn.sync_connection, "before_cursor_execute", capture)
        await call(conn)
        event.remove(conn.sync_connection, "before_cursor_execute", capture)
        plans = []
        if conn.dialect.name == "postgresql":
            # A few rows make a sequential scan the cheapest; forbidding it shows whether
            # an index can serve the statement at all (at scale it is chosen anyway).
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            for statement, params in seen:
                result = await conn.exec_driver_sql(f"EXPLAIN {statement}", params)
                plans += [r[0] for r in result]
        else:
            for statement, params in seen:
                result = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                plans += [r[-1] for r in result]
        await conn.rollback()
    return "\n".join(plans)


async def test_a_channel_claim_reads_its_own_index_range(engine: AsyncEngine) -> None:
    """Each claim costs what it takes, not the backlog: with 'sms' rows all due first, an
    email claim must not step over them (a range of the per-channel index)."""
    await enqueue(engine, [row(i, "sms") for i in range(50)] + [row(i, "email") for i in range(5)])

    async def email_claim(conn: Any) -> None:
        await store.claim_due(
            conn, worker="w", now=NOW, lease=LEASE, limit=10, channel=ChannelName.EMAIL
        )

    plan = await _plans(engine, email_claim)
    assert plan.count("ix_outbox_channel_priority_due") == 2, plan  # pending and deferred ranges


async def test_a_fan_out_page_looks_up_its_own_customers(engine: AsyncEngine) -> None:
    """supersede (run for every page of a fan-out) reads the page's customers' rows of the
    subject, not every row of the subject: otherwise a fan-out's cost grows with the
    square of its audience."""
    await enqueue(engine, [row(i, "email") for i in range(50)])

    async def page_supersede(conn: Any) -> None:
        await supersede(
            conn,
            subject_type="incident",
            subject_id="1",
            customer_ids=["c00001", "c00002"],
            now=NOW,
            before_event_id=7,
            by="an update",
        )

    plan = await _plans(engine, page_supersede)
    assert "ix_outbox_subject_customer" in plan, plan
