"""The pace of a provider account: a GCRA rate limiter, in memory or shared in the database.

GCRA (the generic cell rate algorithm) keeps one number per account, the "theoretical
arrival time" `tat`: when the account would be idle again had every grant so far gone out
at exactly the configured rate. With an emission interval `T = 1 / rate` (stretched by a
slow-down factor while one is in force), a send costing `n` units (messages; SMS segments)
at time `now` is granted when

    max(tat, now) - now <= max(burst - n, 0) * T

and then `tat = max(tat, now) + n * T`. Otherwise it must wait
`max(tat, now) - now - max(burst - n, 0) * T` seconds. A daily quota counts units per UTC
day beside it; when spent, the wait runs to the next midnight.

A sender that will wait anyway may *reserve* instead: the grant is the next free slot, even
if it lies in the future, and the sender sleeps until then. One statement per message and
no stampede of waiters retrying the same slot; a reservation never runs past the quota.

Several workers share one account's pace only through the database: `DatabaseLimiter` does
the whole test-and-set in one `UPDATE ... RETURNING` on the account's row, so three workers
together stay under the rate instead of each taking it. On SQLite (one worker) the in-process
`MemoryLimiter` does the same arithmetic on a dict.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    Update,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.store.db import dialect_insert
from notifier.store.tables import send_limits


@dataclass(frozen=True, slots=True)
class Capacity:
    """What a provider account may carry: units (messages; SMS segments) per second."""

    rate: float
    burst: int = 1
    daily_quota: int | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a capacity needs a rate above zero and a burst of at least 1")


@dataclass(frozen=True, slots=True)
class Grant:
    """A limiter's answer: granted (`wait` 0, `at` the slot the send took), or wait."""

    wait: float
    at: float | None = None  # the start of the granted slot, in seconds since the epoch

    @property
    def granted(self) -> bool:
        return self.at is not None


@dataclass(slots=True)
class LimitState:
    """One account's row."""

    tat: float = 0.0
    slow_factor: float = 1.0
    slow_until: float = 0.0
    day: str = ""
    day_count: int = 0


def decide(
    state: LimitState, cost: int, capacity: Capacity, now: float, *, reserve: bool = False
) -> Grant:
    """The GCRA decision of the module docstring; updates `state` when granted. With
    `reserve`, a turn in the future is granted too, its `wait` saying how far off."""
    factor = state.slow_factor if state.slow_until > now else 1.0
    interval = factor / capacity.rate
    today = _day(now)
    spent = state.day_count if state.day == today else 0
    if capacity.daily_quota is not None and spent + cost > capacity.daily_quota:
        return Grant(wait=_next_midnight(now) - now)
    base = max(state.tat, now)
    slack = max(capacity.burst - cost, 0) * interval
    wait = max(base - now - slack, 0.0) if base - now > slack + 1e-9 else 0.0
    if wait and not reserve:
        return Grant(wait=wait)
    state.tat = base + cost * interval
    state.day, state.day_count = today, spent + cost
    return Grant(wait=wait, at=base)


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


def _next_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


class Limiter(Protocol):
    async def take(
        self, key: str, cost: int, capacity: Capacity, now: float, *, reserve: bool = False
    ) -> Grant:
        """Grant `cost` units of the account `key` at `now`, or say how long to wait; with
        `reserve`, grant the next free turn however far off (see the module docstring)."""
        ...

    async def slow_down(self, key: str, factor: float, for_seconds: float, now: float) -> None:
        """Stretch the account's interval by `factor` for a while (a provider said "slow
        down"). A later call replaces an earlier one."""
        ...


class MemoryLimiter:
    """One process's limiter (SQLite: one worker)."""

    def __init__(self) -> None:
        self._states: dict[str, LimitState] = {}

    async def take(
        self, key: str, cost: int, capacity: Capacity, now: float, *, reserve: bool = False
    ) -> Grant:
        state = self._states.setdefault(key, LimitState())
        return decide(state, cost, capacity, now, reserve=reserve)

    async def slow_down(self, key: str, factor: float, for_seconds: float, now: float) -> None:
        state = self._states.setdefault(key, LimitState())
        state.slow_factor, state.slow_until = _check_factor(factor), now + for_seconds


def _check_factor(factor: float) -> float:
    if not math.isfinite(factor) or factor < 1:
        raise ValueError(f"a slow-down factor is at least 1, not {factor}")
    return factor


class DatabaseLimiter:
    """Every worker's limiter: the account's row in `send_limits`, one statement per grant."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._known: set[str] = set()

    async def take(
        self, key: str, cost: int, capacity: Capacity, now: float, *, reserve: bool = False
    ) -> Grant:
        await self._ensure(key)
        today = _day(now)
        params = {
            "l_key": key,
            "l_now": now,
            "l_cost": cost,
            "l_rate": capacity.rate,
            "l_room": max(capacity.burst - cost, 0),
            "l_today": today,
            "l_quota": capacity.daily_quota if capacity.daily_quota is not None else 2**62,
        }
        async with self._engine.begin() as conn:
            row = (await conn.execute(_grant(conn.dialect.name, reserve), params)).first()
            if row is not None:
                at = float(row.tat) - cost * float(row.interval)
                slack = max(capacity.burst - cost, 0) * float(row.interval)
                return Grant(wait=max(at - now - slack, 0.0), at=at)
            state = (await conn.execute(select(send_limits).where(send_limits.c.key == key))).one()
        # Refused: the same arithmetic on what the row holds says how long to wait.
        current = LimitState(
            state.tat, state.slow_factor, state.slow_until, state.day, state.day_count
        )
        answer = decide(current, cost, capacity, now)
        # Another worker's grant may have freed nothing yet this instant: never answer 0.
        return answer if not answer.granted else Grant(wait=1e-3)

    async def slow_down(self, key: str, factor: float, for_seconds: float, now: float) -> None:
        await self._ensure(key)
        async with self._engine.begin() as conn:
            await conn.execute(
                update(send_limits)
                .where(send_limits.c.key == key)
                .values(slow_factor=_check_factor(factor), slow_until=now + for_seconds)
            )

    async def state(self, key: str) -> LimitState | None:
        """The account's row, for reports and tests."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(send_limits).where(send_limits.c.key == key))).first()
        if row is None:
            return None
        return LimitState(row.tat, row.slow_factor, row.slow_until, row.day, row.day_count)

    async def _ensure(self, key: str) -> None:
        if key in self._known:
            return
        async with self._engine.begin() as conn:
            insert = dialect_insert(conn.dialect.name)(send_limits)
            await conn.execute(
                insert.on_conflict_do_nothing(index_elements=[send_limits.c.key]),
                {"key": key, "tat": 0.0, "slow_factor": 1.0, "slow_until": 0.0},
            )
        self._known.add(key)


@functools.cache
def _grant(dialect: str, reserve: bool) -> Update:
    """The test-and-set of `decide` as one statement: it either moves `tat` and counts the
    day, or matches no row. A reservation is refused by the quota only."""
    greatest = func.greatest if dialect == "postgresql" else func.max
    now = bindparam("l_now", type_=Float)
    cost = bindparam("l_cost", type_=Integer)
    today = bindparam("l_today", type_=String)
    c = send_limits.c
    interval = case((c.slow_until > now, c.slow_factor), else_=1.0) / bindparam(
        "l_rate", type_=Float
    )
    base = greatest(c.tat, now)
    spent = case((c.day == today, c.day_count), else_=0)
    return (
        update(send_limits)
        .where(
            c.key == bindparam("l_key", type_=String),
            spent + cost <= bindparam("l_quota", type_=BigInteger),
            *(
                []
                if reserve
                else [base - now <= bindparam("l_room", type_=Integer) * interval + 1e-9]
            ),
        )
        .values(tat=base + cost * interval, day=today, day_count=spent + cost)
        .returning(c.tat, interval.label("interval"))
    )
