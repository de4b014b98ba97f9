"""The limiter: GCRA arithmetic, a daily quota, slow-downs, and one rate shared by several
workers through PostgreSQL. Counted from the limiter's own grants on a clock the test moves,
never from wall-clock rates."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.delivery.limiter import (
    Capacity,
    DatabaseLimiter,
    Grant,
    Limiter,
    LimitState,
    MemoryLimiter,
    decide,
)
from notifier.store.db import create_engine
from tests.databases import postgres_database

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


def _grants(state: LimitState, cost: int, capacity: Capacity, now: float) -> int:
    """How many sends of `cost` the account grants at `now`, asked until it refuses."""
    count = 0
    while decide(state, cost, capacity, now).granted:
        count += 1
    return count


# Steps of a sixteenth of a second: exact in binary, finer than the intervals used.
STEP = 1 / 16


def test_a_quiet_account_grants_its_burst_then_its_rate() -> None:
    state, capacity = LimitState(), Capacity(rate=8, burst=4)
    assert _grants(state, 1, capacity, START) == 4
    total = 4
    for step in range(1, 3 * 16 + 1):
        total += _grants(state, 1, capacity, START + step * STEP)
        assert total <= 4 + 8 * step * STEP
    assert total == 4 + 8 * 3


def test_a_refusal_says_how_long_until_the_next_turn() -> None:
    state, capacity = LimitState(), Capacity(rate=4)
    assert decide(state, 1, capacity, START).granted
    refused = decide(state, 1, capacity, START)
    assert not refused.granted and refused.wait == pytest.approx(0.25)
    assert decide(state, 1, capacity, START + refused.wait).granted


def test_an_sms_costs_its_segments() -> None:
    state, capacity = LimitState(), Capacity(rate=1)
    assert decide(state, 3, capacity, START).granted
    refused = decide(state, 1, capacity, START)
    assert refused.wait == pytest.approx(3.0)


def test_a_daily_quota_waits_for_midnight() -> None:
    state, capacity = LimitState(), Capacity(rate=1000, burst=1000, daily_quota=7)
    assert _grants(state, 1, capacity, START) == 7
    refused = decide(state, 1, capacity, START + 60)
    midnight = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    assert refused.wait == pytest.approx(midnight - START - 60)
    assert decide(state, 1, capacity, midnight).granted


async def test_a_slow_down_stretches_the_interval_for_a_while() -> None:
    limiter, capacity = MemoryLimiter(), Capacity(rate=10)
    await limiter.slow_down("sms:x", 4.0, 10.0, START)
    first = await limiter.take("sms:x", 1, capacity, START)
    second = await limiter.take("sms:x", 1, capacity, START)
    assert first.granted and second.wait == pytest.approx(0.4)
    later = START + 20  # the slow-down is over
    assert (await limiter.take("sms:x", 1, capacity, later)).granted
    assert (await limiter.take("sms:x", 1, capacity, later)).wait == pytest.approx(0.1)
    with pytest.raises(ValueError, match="at least 1"):
        await limiter.slow_down("sms:x", 0.5, 10.0, START)


async def _drain(limiter: Limiter, key: str, capacity: Capacity, now: float) -> list[Grant]:
    granted = []
    while (grant := await limiter.take(key, 1, capacity, now)).granted:
        granted.append(grant)
    return granted


async def test_the_database_limiter_answers_as_the_arithmetic(engine: AsyncEngine) -> None:
    """On both stores the one-statement grant agrees with `decide`, quota and slow-down too."""
    key, capacity = f"email:{uuid.uuid4().hex}", Capacity(rate=5, burst=3, daily_quota=12)
    limiter, state = DatabaseLimiter(engine), LimitState()
    for step, now in enumerate([START, START + 1, START + 1.5, START + 3, START + 10, START + 20]):
        if step == 2:
            await limiter.slow_down(key, 2.0, 1.0, now)
            state.slow_factor, state.slow_until = 2.0, now + 1.0
        granted = await _drain(limiter, key, capacity, now)
        assert len(granted) == _grants(state, 1, capacity, now), step
    refused = await limiter.take(key, 1, capacity, START + 30)
    assert refused.wait == pytest.approx(decide(state, 1, capacity, START + 30).wait)
    row = await limiter.state(key)
    assert row is not None and row.day_count == 12  # the quota, spent


@pytest.mark.postgres
async def test_three_workers_together_stay_under_the_rate() -> None:
    """Three workers, each with its own engine (its own connections), take turns of one
    account as fast as they can at each instant of a clock the test moves. Together they
    get what one would: the burst, then the rate each second, and no slot twice."""
    capacity = Capacity(rate=32, burst=6)
    key = f"sms:{uuid.uuid4().hex}"
    seconds = 2
    async with postgres_database(migrated=True) as url:
        engines = [create_engine(url) for _ in range(3)]
        try:
            limiters = [DatabaseLimiter(e) for e in engines]
            slots: list[float] = []
            by_worker = [0, 0, 0]
            for step in range(seconds * 16 + 1):
                now = START + step * STEP
                results = await asyncio.gather(
                    *(_drain(limiter, key, capacity, now) for limiter in limiters)
                )
                for worker, result in enumerate(results):
                    by_worker[worker] += len(result)
                    slots += [g.at for g in result if g.at is not None]
                assert len(slots) <= capacity.burst + capacity.rate * step * STEP
        finally:
            for e in engines:
                await e.dispose()
    assert len(slots) == capacity.burst + capacity.rate * seconds  # one worker's worth
    assert sum(1 for n in by_worker if n) >= 2, by_worker  # they really competed
    assert len(set(slots)) == len(slots)  # each slot of the schedule granted once
    # The grants' own slots: never more than `burst` ahead of the rate.
    slots.sort()
    for i, slot in enumerate(slots):
        assert slot >= START + (i - capacity.burst + 1) / capacity.rate - 1e-6


def test_a_reservation_grants_the_next_free_turn_however_far() -> None:
    state, capacity = LimitState(), Capacity(rate=4, burst=2)
    grants = [decide(state, 1, capacity, START, reserve=True) for _ in range(6)]
    assert all(g.granted for g in grants)
    assert [g.wait for g in grants] == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    # Try mode still refuses a turn that is not there yet.
    assert not decide(state, 1, capacity, START + 1).granted


async def test_workers_reserving_together_get_distinct_turns_at_the_rate(
    engine: AsyncEngine,
) -> None:
    """Three limiters on one database (three workers' worth), reserving at once: each turn
    once, spaced by the interval after the burst; the quota still refuses."""
    capacity = Capacity(rate=8, burst=2, daily_quota=40)
    key = f"email:{uuid.uuid4().hex}"
    limiters = [DatabaseLimiter(engine) for _ in range(3)]

    async def reserve(limiter: DatabaseLimiter) -> list[Grant]:
        return [
            await limiter.take(key, 1, capacity, START, reserve=True) for _ in range(10)
        ]

    grants = [g for result in await asyncio.gather(*map(reserve, limiters)) for g in result]
    assert all(g.granted for g in grants)
    slots = sorted(g.at for g in grants if g.at is not None)
    assert slots == [START + i / 8 for i in range(30)]
    assert sorted(g.wait for g in grants) == pytest.approx(
        [max(0.0, (i - 1) / 8) for i in range(30)]
    )
    more = [await limiters[0].take(key, 1, capacity, START, reserve=True) for _ in range(11)]
    assert sum(g.granted for g in more) == 10  # the quota of 40, and no more
