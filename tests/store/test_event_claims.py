"""Claiming events for planning: the oldest waiting event of each subject, never a later
one while an earlier one waits, never one another worker holds; an expired lease frees it.
On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store import events as event_store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def _append(engine: AsyncEngine, subject_id: str, kind: str) -> int:
    async with engine.begin() as conn:
        return await event_store.append_event(
            conn,
            subject_type="order",
            subject_id=subject_id,
            kind=kind,
            from_status=None,
            to_status=None,
            payload={},
            now=NOW,
        )


async def _claim(
    engine: AsyncEngine, worker: str, *, now: datetime = NOW, limit: int = 10
) -> list[int]:
    async with engine.begin() as conn:
        claimed = await event_store.claim_unplanned(
            conn, worker=worker, now=now, lease=LEASE, limit=limit
        )
    return [e.id for e in claimed]


async def _plan(engine: AsyncEngine, event_id: int) -> None:
    async with engine.begin() as conn:
        await event_store.mark_planned(conn, event_id, NOW)


async def test_oldest_waiting_event_of_each_subject_only(engine: AsyncEngine) -> None:
    a1 = await _append(engine, "a", "order.placed")
    b1 = await _append(engine, "b", "order.placed")
    a2 = await _append(engine, "a", "order.shipped")
    c1 = await _append(engine, "c", "order.placed")
    b2 = await _append(engine, "b", "order.shipped")

    assert await _claim(engine, "w1", limit=2) == [a1, b1]  # oldest first, up to the limit
    # a1 and b1 are held: their subjects' later events wait; c1 is free.
    assert await _claim(engine, "w2") == [c1]
    assert await _claim(engine, "w2") == []

    await _plan(engine, a1)
    assert await _claim(engine, "w2") == [a2]  # a's next, now that a1 is planned
    await _plan(engine, b1)
    await _plan(engine, c1)
    assert await _claim(engine, "w2") == [b2]


async def test_an_expired_lease_frees_the_event_for_another_worker(engine: AsyncEngine) -> None:
    first = await _append(engine, "a", "order.placed")
    later = await _append(engine, "a", "order.shipped")
    assert await _claim(engine, "w1") == [first]
    assert await _claim(engine, "w2", now=NOW + LEASE - timedelta(seconds=1)) == []
    # w1 died: after its lease the same event, and still not the later one, is claimable.
    assert await _claim(engine, "w2", now=NOW + LEASE + timedelta(seconds=1)) == [first]
    await _plan(engine, first)
    assert await _claim(engine, "w2", now=NOW + LEASE + timedelta(seconds=1)) == [later]


async def test_many_waiting_events_of_few_subjects(engine: AsyncEngine) -> None:
    """A backlog much longer than the limit: each claim still takes one per subject, in
    order, and every event is claimed exactly once, after its subject's earlier ones."""
    order: dict[str, list[int]] = {}
    for n in range(300):
        subject = f"s{n % 7}"
        order.setdefault(subject, []).append(await _append(engine, subject, "order.note"))
    seen: list[int] = []
    while True:
        claimed = await _claim(engine, "w1", limit=20)
        if not claimed:
            break
        assert len(claimed) <= 7  # one per subject at most
        for event_id in claimed:
            await _plan(engine, event_id)
        seen += claimed
    assert sorted(seen) == sorted(i for ids in order.values() for i in ids)
    for ids in order.values():
        assert [i for i in seen if i in ids] == ids  # each subject's events in order


async def test_renewing_keeps_a_claim_and_reports_one_lost(engine: AsyncEngine) -> None:
    """A planner renews its claims while it works: renewed, the event stays its own past
    the first lease; an event planned or taken over meanwhile is not renewed."""
    first = await _append(engine, "a", "order.placed")
    other = await _append(engine, "b", "order.placed")
    assert await _claim(engine, "w1") == [first, other]
    await _plan(engine, other)
    async with engine.begin() as conn:
        held = await event_store.renew_claims(
            conn, worker="w1", ids=[first, other], until=NOW + 2 * LEASE
        )
    assert held == {first}
    assert await _claim(engine, "w2", now=NOW + LEASE + timedelta(seconds=1)) == []
    # Not renewed again (w1 died): after the renewed lease it is free.
    assert await _claim(engine, "w2", now=NOW + 2 * LEASE + timedelta(seconds=1)) == [first]
    async with engine.begin() as conn:
        held = await event_store.renew_claims(conn, worker="w1", ids=[first], until=NOW + 3 * LEASE)
    assert held == set()  # w2 holds it now: w1's renewal must not take it back
